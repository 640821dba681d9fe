"""Talking to an OpenAI-compatible chat endpoint (OpenAI, Azure's v1 endpoint, vLLM, SGLang, Ollama): one client
with a reply cache, a concurrency bound, retries and a spending guard, used by the LLM judge and by API models."""
