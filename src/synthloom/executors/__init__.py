"""Executors: where row groups run. `local` (asyncio, the default) and `ray`, side by side behind
a registry (`registry.py`), sharing one `run_group()`."""
