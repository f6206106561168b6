import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmpretrain.registry import HOOKS


def derive_seed(*keys: int) -> int:
    """A 32-bit seed that is a pure function of ``keys`` (e.g. seed, epoch,
    rank), well mixed by numpy's ``SeedSequence``."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def seed_all(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch (CPU and
    every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def seed_dataloader_worker(worker_id: int) -> None:
    """``worker_init_fn`` that seeds python, numpy and torch in a dataloader
    worker from torch's per-worker seed.

    torch gives each worker ``base_seed + worker_id``, with ``base_seed`` drawn
    from the main process's torch generator when the workers start; as
    :class:`EpochSeedHook` seeds that generator from (seed, epoch, rank), the
    worker streams are a function of (seed, epoch, rank, worker_id) too.
    (mmengine's default seeds each worker with ``seed + worker_id + ...``
    only, which repeats the same augmentations every epoch.)
    """
    seed_all(derive_seed(torch.initial_seed() % 2**63, worker_id))


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Make every epoch's random streams a function of (seed, epoch, rank).

    Before each training epoch, python's, numpy's and torch's generators in the
    main process are seeded with ``derive_seed(runner.seed, epoch, rank)``, and
    the train dataloader's workers are seeded from them through
    :func:`seed_dataloader_worker`. Training resumed from an epoch checkpoint
    therefore replays exactly what an uninterrupted run does: same data order
    (mmengine's ``DefaultSampler`` already derives it from seed and epoch), same
    augmentations, same random masks and point samples in the model.

    Limits: dataloader workers created once (``persistent_workers=True``) keep
    their streams across epochs, so their augmentations after a resume differ
    from an uninterrupted run (a warning is logged); resuming from the middle
    of an epoch is not replayed exactly.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        loader = runner.train_loop.dataloader
        if loader.num_workers > 0:
            loader.worker_init_fn = seed_dataloader_worker
            if loader.persistent_workers:
                print_log(
                    'EpochSeedHook: train_dataloader.persistent_workers=True '
                    'keeps worker random streams across epochs, so a resumed '
                    'run will not replay the same augmentations; set '
                    'persistent_workers=False for exact resume.',
                    logger='current', level=30)

    def before_train_epoch(self, runner) -> None:
        seed_all(derive_seed(runner.seed, runner.epoch, runner.rank))
