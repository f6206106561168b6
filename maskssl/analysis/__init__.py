from .benchmark import (BenchResult, StepRunner, comparison_markdown,
                        crop_sizes, format_table, ratio_table, report_json, rescale_crops, run_benchmark,
                        synthetic_batch)
from .benchmark import (comparison_rows, counts_fused_attention,
                        flop_counter, without_amp)
from .breakdown import PartTimers, median_ms, time_parts
from .chaos import Kill, chaos_train, max_abs_diff

__all__ = [
    'BenchResult', 'StepRunner', 'comparison_markdown', 'crop_sizes', 'format_table', 'ratio_table',
    'report_json', 'rescale_crops', 'run_benchmark', 'synthetic_batch', 'Kill',
    'chaos_train', 'max_abs_diff', 'comparison_rows', 'counts_fused_attention',
    'flop_counter',
    'without_amp', 'PartTimers', 'median_ms', 'time_parts'
]
