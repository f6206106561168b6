from .config_checks import (check_dataset_paths, check_dataset_sizes,
                            check_model_type, count_annotation_lines,
                            find_config_syntax_error, find_unknown_cfg_keys)
from .dist import adapt_cfg_to_cpu, close_dist, init_cpu_dist
from .prepare import (add_launch_args, fill_dataloader_defaults, load_config,
                      parse_launch_args, prepare_launch)
from .resume_check import (ResumeError, check_resume, describe_missing_resume,
                           is_finished, resume_source)
from .work_dir_lock import WorkDirLock, WorkDirLockedError, launch_rank

__all__ = [
    'check_dataset_paths', 'check_dataset_sizes', 'check_model_type',
    'count_annotation_lines',
    'find_config_syntax_error', 'find_unknown_cfg_keys', 'adapt_cfg_to_cpu',
    'close_dist', 'init_cpu_dist', 'add_launch_args', 'fill_dataloader_defaults',
    'load_config', 'parse_launch_args', 'prepare_launch', 'ResumeError',
    'check_resume', 'describe_missing_resume', 'is_finished', 'resume_source',
    'WorkDirLock', 'WorkDirLockedError', 'launch_rank'
]
