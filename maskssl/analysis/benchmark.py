"""Training-step benchmark of algorithms built from their configs.

Each algorithm runs full training steps (data preprocessing, forward, backward,
optimiser step, and any momentum update inside ``loss``) on one synthetic batch
made by the config's own train pipeline, so every view, crop size and mask is
what training sees. Several algorithms alternate step by step in one process,
so that machine noise hits them alike. An implementation adds no overhead
beyond its maths when its step-time ratio to a baseline is close to its FLOP
ratio.
"""
import copy
import json
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import COLLATE_FUNCTIONS
from mmengine.logging import MessageHub
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS, TRANSFORMS
from torch.utils.flop_counter import (FlopCounterMode,
                                     sdpa_backward_flop_count,
                                     sdpa_flop_count)

from mmcv.transforms import Compose, LoadImageFromFile

from ..launch.config_checks import check_model_type
from ..utils.arg_checks import check_int
from ..utils.config import iter_cfg_dicts
from ..utils.init_weights import init_weights_quietly

def _cpu_attention_flop(query_shape, key_shape, value_shape, *args,
                        out_shape=None, **kwargs) -> int:
    """FLOPs of torch's fused CPU attention kernel, by the formula torch's
    counter applies to its CUDA kernels: ``4 B H L S D`` (the ``Q K^T`` and
    ``A V`` matmuls)."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_attention_backward_flop(grad_out_shape, query_shape, key_shape,
                                 value_shape, *args, out_shape=None,
                                 **kwargs) -> int:
    """FLOPs of the backward of torch's fused CPU attention kernel, by the
    formula torch's counter applies to its CUDA kernels."""
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape,
                                    value_shape)


# torch 2.14's FlopCounterMode counts the fused attention kernels of CUDA
# but not the one scaled_dot_product_attention runs on CPU.
FUSED_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu:
    _cpu_attention_flop,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward:
    _cpu_attention_backward_flop,
}


def flop_counter() -> FlopCounterMode:
    """The harness's FLOP counter: torch's ``FlopCounterMode`` that also
    counts the fused CPU attention kernel (:data:`FUSED_ATTENTION_FLOPS`),
    so that ViT FLOP counts on CPU include every attention matmul, as on
    GPU."""
    return FlopCounterMode(display=False,
                           custom_mapping=FUSED_ATTENTION_FLOPS)


CROP_KEYS = {'RandomResizedCrop': 'scale', 'RandomCrop': 'crop_size',
             'CenterCrop': 'crop_size'}


@dataclass
class BenchResult:
    """Per-config measurements. FLOPs count one multiply-add as one FLOP, as
    mmengine and fvcore do: ``gflops_per_img`` of the forward (``loss``)
    alone, ``train_gflops_per_img`` of the whole training step (forward and
    backward), which is what step time follows when only some views are
    back-propagated (momentum encoders, extra target views)."""
    name: str
    ms_per_step: float
    img_per_s: float
    peak_mem_mb: Optional[float]
    gflops_per_img: float
    train_gflops_per_img: float


def crop_sizes(node: Any) -> List[int]:
    """The output sizes of every crop transform in a (nested) pipeline
    config, in order."""
    sizes = []
    for transform in iter_cfg_dicts(node):
        key = CROP_KEYS.get(transform.get('type'))
        if key and isinstance(transform.get(key), int):
            sizes.append(transform[key])
    return sizes


def rescale_crops(node: Any, factor: float) -> None:
    """Scale, in place, the output size of every crop transform in a
    (nested) pipeline config by ``factor``, rounded to whole pixels."""
    for transform in iter_cfg_dicts(node):
        key = CROP_KEYS.get(transform.get('type'))
        if key and isinstance(transform.get(key), int):
            transform[key] = int(round(transform[key] * factor))


def _is_image_loading(transform: dict) -> bool:
    """Whether a transform config loads the image from its file (mmcv's
    ``LoadImageFromFile`` or a subclass, e.g. ``CheckedLoadImageFromFile``)."""
    kind = transform.get('type')
    if isinstance(kind, str):
        kind = TRANSFORMS.get(kind)
    return isinstance(kind, type) and issubclass(kind, LoadImageFromFile)


def synthetic_batch(cfg: Config, batch_size: int,
                    img_size: Optional[int] = None, seed: int = 0) -> dict:
    """A collated batch made by running the config's train pipeline (after
    ``LoadImageFromFile``) on random images.

    Args:
        cfg (Config): The algorithm's config.
        batch_size (int): Images in the batch.
        img_size (int, optional): Size of the largest crop; every crop of the
            pipeline is scaled by the same factor (multi-crop ratios hold).
            ``None`` keeps the config's sizes.
        seed (int): Seed of the random images.
    """
    pipeline = copy.deepcopy(cfg.train_dataloader.dataset.pipeline)
    if pipeline and _is_image_loading(pipeline[0]):
        pipeline = pipeline[1:]
    sizes = crop_sizes(pipeline)
    source = max(sizes) if sizes else 224
    if img_size is not None and sizes:
        rescale_crops(pipeline, img_size / source)
        source = img_size
    transform = Compose([TRANSFORMS.build(t) for t in pipeline])
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(batch_size):
        img = rng.integers(0, 256, size=(source * 8 // 7, source * 8 // 7, 3),
                           dtype=np.uint8)
        samples.append(transform(dict(img=img, img_shape=img.shape[:2],
                                      ori_shape=img.shape[:2])))
    collate_cfg = cfg.train_dataloader.get('collate_fn',
                                           dict(type='pseudo_collate'))
    collate = COLLATE_FUNCTIONS.get(collate_cfg['type'])
    return collate(samples)


class StepRunner:
    """One algorithm, its optimiser and its synthetic batch."""

    def __init__(self, name: str, cfg: Config, batch_size: int,
                 img_size: Optional[int], device: str) -> None:
        self.name = name
        self.batch_size = batch_size
        self.device = device
        model = revert_sync_batchnorm(MODELS.build(copy.deepcopy(cfg.model)))
        init_weights_quietly(model)
        self.model = model.to(device).train()
        self.optim_wrapper = build_optim_wrapper(self.model,
                                                 copy.deepcopy(cfg.optim_wrapper))
        self.batch = synthetic_batch(cfg, batch_size, img_size)
        self.times: List[float] = []

    def _sync(self) -> None:
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()

    def step(self, record: bool = True) -> None:
        self._sync()
        start = time.perf_counter()
        self.model.train_step(self.batch, self.optim_wrapper)
        self._sync()
        if record:
            self.times.append(time.perf_counter() - start)

    def forward_gflops_per_img(self) -> float:
        """Forward FLOPs (multiply-adds) of one training ``loss`` call, per
        image of the batch."""
        data = self.model.data_preprocessor(copy.deepcopy(self.batch), True)
        counter = flop_counter()
        with counter, torch.no_grad():
            self.model(**data, mode='loss')
        return counter.get_total_flops() / 2 / self.batch_size / 1e9

    def train_gflops_per_img(self) -> float:
        """FLOPs (multiply-adds) of one training step, backward included, per
        image of the batch."""
        counter = flop_counter()
        with counter:
            self.model.train_step(copy.deepcopy(self.batch),
                                  self.optim_wrapper)
        return counter.get_total_flops() / 2 / self.batch_size / 1e9

    def peak_memory_mb(self) -> Optional[float]:
        """Peak memory of one training step: CUDA allocator peak on GPU; on
        CPU, the peak of the running sum of the allocations the profiler
        attributes to each op (memory held before the step is not counted)."""
        if self.device.startswith('cuda'):
            torch.cuda.reset_peak_memory_stats()
            self.step(record=False)
            return torch.cuda.max_memory_allocated() / 2**20
        with torch.profiler.profile(activities=[
                torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
            self.step(record=False)
        # allocations (+) and frees (-) of each op, in the order ops started
        usage, peak = 0, 0
        events = [e for e in prof.events() if e.self_cpu_memory_usage]
        for event in sorted(events, key=lambda e: e.time_range.start):
            usage += event.self_cpu_memory_usage
            peak = max(peak, usage)
        return peak / 2**20

    def result(self) -> BenchResult:
        seconds = statistics.median(self.times)
        return BenchResult(self.name, seconds * 1e3,
                           self.batch_size / seconds, self.peak_memory_mb(),
                           self.forward_gflops_per_img(),
                           self.train_gflops_per_img())


def run_benchmark(cfgs: Dict[str, Config], iters: int = 20, warmup: int = 3,
                  batch_size: int = 32, img_size: Optional[int] = None,
                  device: Optional[str] = None) -> List[BenchResult]:
    """Time ``iters`` training steps of each config, alternating them.

    Args:
        cfgs (dict[str, Config]): Name -> config; the first is the one under
            test, the last the baseline.
        iters (int): Timed steps per config (median is reported).
        warmup (int): Untimed steps per config first.
        batch_size (int): Images per step.
        img_size (int, optional): Largest crop size (see
            :func:`synthetic_batch`).
        device (str, optional): Default: ``'cuda'`` when available.

    Raises:
        ValueError: for no config, a config of no self-supervised algorithm
            (``check_model_type``), or a step count, batch or
            image size that is not a positive int (``warmup``: >= 0),
            before anything is built.
    """
    if not cfgs:
        raise ValueError('run_benchmark: no config given; expected at least '
                         'one')
    for name, cfg in cfgs.items():
        check_model_type(
            cfg, cfg.filename or name, BaseSelfSupervisor,
            'a pretraining config of a self-supervised algorithm, e.g. '
            'MaskDeep or BYOL (configs/maskdeep/, configs/byol/)')
    check_int(iters, 'iters', owner='run_benchmark')
    check_int(warmup, 'warmup', minimum=0, owner='run_benchmark')
    check_int(batch_size, 'batch_size', owner='run_benchmark')
    if img_size is not None:
        check_int(img_size, 'img_size', owner='run_benchmark')
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    hub = MessageHub.get_current_instance()
    hub.update_info('iter', 0)
    hub.update_info('max_iters', warmup + iters + 2)
    runners = [StepRunner(name, cfg, batch_size, img_size, device)
               for name, cfg in cfgs.items()]
    for _ in range(warmup):
        for runner in runners:
            runner.step(record=False)
    for i in range(iters):
        hub.update_info('iter', warmup + i)
        for runner in runners:
            runner.step()
    return [runner.result() for runner in runners]


def ratio_table(results: List[BenchResult]) -> Dict[str, Any]:
    """Results as JSON-ready dicts, with step-time and training-step FLOP
    ratios of each config to the last (the baseline), and their quotient
    (1.0 = no overhead beyond the FLOPs)."""
    base = results[-1]
    rows = []
    for res in results:
        row = asdict(res)
        row['time_ratio'] = res.ms_per_step / base.ms_per_step
        row['flop_ratio'] = (res.train_gflops_per_img /
                             base.train_gflops_per_img)
        row['time_over_flop'] = row['time_ratio'] / row['flop_ratio']
        rows.append(row)
    return dict(baseline=base.name, results=rows)


def comparison_rows(cfgs: Dict[str, Config], iters: int, warmup: int,
                    batch_size: int, img_size: Optional[int],
                    device: Optional[str] = None) -> List[Dict[str, Any]]:
    """Run :func:`run_benchmark` on ``cfgs`` (the baseline last) and return
    one row per other config: ``comparison`` (``'<name> vs <baseline>'``),
    ``test`` and ``baseline``, results of :func:`ratio_table` with their
    ratios to the baseline (what :func:`comparison_markdown` prints)."""
    results = run_benchmark(cfgs, iters, warmup, batch_size, img_size,
                            device)
    table = ratio_table(results)['results']
    return [dict(comparison=f'{row["name"]} vs {table[-1]["name"]}',
                 test=row, baseline=table[-1]) for row in table[:-1]]


def without_amp(cfg: Config) -> Config:
    """A copy of a config whose ``AmpOptimWrapper`` (CUDA only in mmengine)
    is a plain ``OptimWrapper`` with the same optimizer and clipping."""
    cfg = copy.deepcopy(cfg)
    if cfg.optim_wrapper.get('type') == 'AmpOptimWrapper':
        cfg.optim_wrapper.type = 'OptimWrapper'
        for key in ('loss_scale', 'dtype'):
            cfg.optim_wrapper.pop(key, None)
    return cfg


def counts_fused_attention(device: str) -> bool:
    """Whether the harness's FLOP count (:func:`flop_counter`) counts
    ``scaled_dot_product_attention`` on ``device``. torch 2.14's own counter
    does not on CPU, where ViT blocks use the fused kernel, so their
    attention matmuls (``2 L^2 C`` multiply-adds per block and image, about
    8% of a ViT-S/16 block at 224 px) would be missing from every FLOP count
    while attention written out as matmuls to return its weights (a
    teacher's last block for MST's masker, EHM's attention pass) is counted;
    :data:`FUSED_ATTENTION_FLOPS` adds that kernel. A device whose kernel
    neither counts is reported here, and the benchmark tools say so."""
    q = torch.zeros(1, 1, 2, 2, device=device)
    counter = flop_counter()
    with counter:
        torch.nn.functional.scaled_dot_product_attention(q, q, q)
    return counter.get_total_flops() > 0


def comparison_markdown(rows: List[Dict[str, Any]]) -> str:
    """A markdown table of comparison rows (``test`` and ``baseline``
    results of :func:`ratio_table`, under ``comparison``), as the method
    READMEs print their speed tables."""
    lines = ['| Comparison | ms/step | baseline ms/step | peak MB | baseline '
             'peak MB | time ratio | train FLOP ratio | time / FLOP |',
             '| :-- | --: | --: | --: | --: | --: | --: | --: |']
    for row in rows:
        t, b = row['test'], row['baseline']
        mem = [f'{m:.0f}' if m is not None else 'n/a'
               for m in (t['peak_mem_mb'], b['peak_mem_mb'])]
        lines.append(
            f'| {row["comparison"]} | {t["ms_per_step"]:.1f} | '
            f'{b["ms_per_step"]:.1f} | {mem[0]} | {mem[1]} | '
            f'{t["time_ratio"]:.3f} | {t["flop_ratio"]:.3f} | '
            f'{t["time_over_flop"]:.3f} |')
    return '\n'.join(lines)


def format_table(table: Dict[str, Any]) -> str:
    header = (f'{"config":<48} {"ms/step":>9} {"img/s":>8} {"peak MB":>9} '
              f'{"GFLOPs/img":>10} {"train GF":>9} {"time x":>7} '
              f'{"FLOP x":>7} {"t/F":>6}')
    lines = [header, '-' * len(header)]
    for row in table['results']:
        mem = row['peak_mem_mb']
        lines.append(
            f'{row["name"][-48:]:<48} {row["ms_per_step"]:9.1f} '
            f'{row["img_per_s"]:8.1f} {"n/a" if mem is None else f"{mem:.0f}":>9} '
            f'{row["gflops_per_img"]:10.3f} '
            f'{row["train_gflops_per_img"]:9.3f} {row["time_ratio"]:7.3f} '
            f'{row["flop_ratio"]:7.3f} {row["time_over_flop"]:6.3f}')
    lines.append(f'ratios are against {table["baseline"]}')
    return '\n'.join(lines)


def report_json(results: Dict, path: Optional[str] = None) -> None:
    """Print ``results`` as one JSON line and, with ``path`` (a tool's
    ``--out``), also write them there, indented."""
    print(json.dumps(results))
    if path:
        with open(path, 'w') as f:
            json.dump(results, f, indent=2)
