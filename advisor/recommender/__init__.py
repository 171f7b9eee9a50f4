"""The engine that answers: memory, candidates, ranking, explanation, results and chart data."""
