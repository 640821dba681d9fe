"""The ``lmms_eval.models`` entry point: ``lmms-eval --model vipbench`` loads ``vipbench.lmms.model``.

lmms-eval 0.7.3 reads every entry point of that group when ``lmms_eval.models`` is imported and expects a
``ModelManifest``; the class itself (and torch) loads only when the model is chosen.
"""

from lmms_eval.models.registry_v2 import ModelManifest

MANIFEST = ModelManifest(model_id="vipbench", simple_class_path="vipbench.lmms.model.VipbenchLMM")
