from .benchmark import (BenchResult, StepRunner, crop_sizes, format_table,
                        ratio_table, rescale_crops, run_benchmark,
                        synthetic_batch)

__all__ = [
    'BenchResult', 'StepRunner', 'crop_sizes', 'format_table', 'ratio_table',
    'rescale_crops', 'run_benchmark', 'synthetic_batch'
]
