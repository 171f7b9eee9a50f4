-- wrk script for benchmarks/load_recommend.py: cycle through the queries in the file named by
-- the environment variable LOAD_PATHS (one path a line), or, with LOAD_UNIQUE=1, make every
-- request a query no one asked before (a distinct budget in kB, so no answer cache can hit).
local paths = {}
local unique = os.getenv("LOAD_UNIQUE") == "1"
local threads = 0
local id = 0
local i = 0

for line in io.lines(os.getenv("LOAD_PATHS")) do
  if #line > 0 then paths[#paths + 1] = line end
end

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  id = tonumber(wrk.thread:get("id")) or 0
  i = id * 7  -- threads start at different queries
end

-- 76 million distinct budgets from 4 to 80 GB, scattered (7919 is coprime with 76000000).
local function unique_budget(n)
  return string.format("%dkB", 4000000 + (n * 7919) % 76000000)
end

request = function()
  i = i + 1
  local path = paths[(i % #paths) + 1]
  if unique then
    local n = i * 16 + id  -- distinct across up to 16 threads
    path = path:gsub("vram=[^&]*", "vram=" .. unique_budget(n))
  end
  return wrk.format("GET", path)
end
