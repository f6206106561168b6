from .knn import (extract_features, knn_class_scores, knn_evaluate,
                  knn_metrics, pooled_features, topk_accuracy)
from .knn_setup import (build_backbone_and_preprocessor,
                        build_cls_data_preprocessor, knn_dataloader,
                        knn_evaluate_config)

__all__ = [
    'extract_features', 'knn_class_scores', 'knn_evaluate', 'knn_metrics',
    'pooled_features', 'topk_accuracy', 'build_backbone_and_preprocessor',
    'build_cls_data_preprocessor', 'knn_dataloader', 'knn_evaluate_config'
]
