# mmdet's default runtime with maskssl's imports and weight check.
_base_ = ['mmdet::_base_/default_runtime.py', './pretrained_check.py']
