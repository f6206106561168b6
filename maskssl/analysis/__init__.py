from .benchmark import (BenchResult, StepRunner, comparison_markdown,
                        crop_sizes, format_table, ratio_table, report_json, rescale_crops, run_benchmark,
                        synthetic_batch)
from .chaos import Kill, chaos_train, max_abs_diff

__all__ = [
    'BenchResult', 'StepRunner', 'comparison_markdown', 'crop_sizes', 'format_table', 'ratio_table',
    'report_json', 'rescale_crops', 'run_benchmark', 'synthetic_batch', 'Kill',
    'chaos_train', 'max_abs_diff'
]
