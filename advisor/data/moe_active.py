"""Active parameters (billions) of mixture-of-experts models whose published names do not
carry an ``-A<n>B`` part, from their model cards. Name resolution (:mod:`advisor.data.naming`)
and the speed importer's label reader share it; keys are lower-case names."""

from __future__ import annotations

MOE_ACTIVE_PARAMS: dict[str, float] = {
    "gpt-oss-20b": 3.6,     # OpenAI gpt-oss model card (2025-08): 21B total, 3.6B active
    "gpt-oss-120b": 5.1,    # OpenAI gpt-oss model card (2025-08): 117B total, 5.1B active
    "minimax-m2.7": 10.0,   # MiniMax-M2 series model cards on Hugging Face: 230B total, 10B active
    "glm-4.7-flash": 3.0,   # Z.ai GLM-4.7-Flash model card: a 30B-A3B mixture of experts
}
