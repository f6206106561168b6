# maskssl's imports and the PretrainedCheckHook for transfer configs (mmdet,
# mmseg and mmpretrain scopes): the hook fails before training when the
# checkpoint does not fill the model and proves after initialisation that
# every loaded tensor equals the checkpoint's.
custom_imports = dict(imports=['maskssl'], allow_failed_imports=False)
custom_hooks = [dict(type='mmpretrain.PretrainedCheckHook')]
