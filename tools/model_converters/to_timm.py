"""Convert a maskssl ViT backbone to timm ``VisionTransformer`` names.

Accepts a raw training checkpoint (its ``backbone.*`` keys) or an extracted
backbone of mmpretrain's ``VisionTransformer`` / ``MAEViT`` and renames it:
``patch_embed.projection`` -> ``patch_embed.proj``, ``layers.{i}`` ->
``blocks.{i}`` (``ln1``/``ln2`` -> ``norm1``/``norm2``, ``ffn.layers.0.0``/
``ffn.layers.1`` -> ``mlp.fc1``/``mlp.fc2``, ``attn.gamma1.weight``/
``ffn.gamma2.weight`` -> ``ls1.gamma``/``ls2.gamma``), final ``ln1`` ->
``norm``, ``ln2`` (``out_type='avg_featmap'``) -> ``fc_norm``, ``pre_norm``
-> ``norm_pre``. A key with no timm equivalent is refused. Build the timm
model with the same width/depth/heads (mmpretrain's ``'small'`` is not timm's
``vit_small``; ``'deit-small'`` is), ``pre_norm=True``, ``init_values`` or
``global_pool='avg'`` as the keys require, without a head (``num_classes=0``).

Example::

    python tools/model_converters/to_timm.py \\
        work_dirs/mae_vit-b/epoch_400.pth mae_vit-b_timm.pth

    model = timm.create_model('vit_base_patch16_224', num_classes=0)
    model.load_state_dict(torch.load('mae_vit-b_timm.pth'))
"""
import argparse
from typing import List, Optional, Tuple

from maskssl.checkpoint import (backbone_state, converter_parser,
                                run_converter, vit_to_timm)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    return converter_parser(
        'Convert a ViT backbone to timm VisionTransformer names',
        'training checkpoint or extracted backbone',
        'output timm state dict (.pth)').parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)

    def convert() -> Tuple[dict, str]:
        out = vit_to_timm(backbone_state(args.src)[0], args.src)
        return out, f'wrote {len(out)} tensors to {args.dst}'

    run_converter(args, convert)


if __name__ == '__main__':
    main()
