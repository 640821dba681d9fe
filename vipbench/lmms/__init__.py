"""lmms-eval interop (the ``[lmms]`` extra).

- ``vipbench export-lmms DIR`` writes vipbench tasks as lmms-eval task YAML (``export``): each sample is one
  lmms-eval doc, and the hooks beside the YAML (``hooks``) call back into vipbench to render the regions and to
  grade and score the answers, so a task scores the same under both harnesses.
- ``lmms-eval --model vipbench --model_args model=NAME,...`` drives any vipbench model adapter (``model``),
  registered through lmms-eval's ``lmms_eval.models`` entry-point group (``manifest``).

Exporting needs nothing beyond vipbench; running the exported tasks or the model needs lmms-eval.
"""
