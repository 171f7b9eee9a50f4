"""quant-advisor: which GGUF quantization of which LLM to run, on this machine, for this work."""

__version__ = "0.1.0"
