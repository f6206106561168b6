"""Deterministic synthetic scenes: the embedded default dataset of maskssl.

Each scene is a textured, noisy background with one large "main" object and up
to two smaller distractors, each a filled polygon of one of
:data:`TOY_CLASSES` at a random position, scale and rotation, in a colour of a
small shared palette, with a shading gradient. Objects never overlap, so every
object's polygon is exactly its instance mask. :mod:`tools.dataset_converters.make_toy_dataset` writes the
same scenes as ImageNet-style folders, COCO json, VOC xml and ADE20K-style PNG
label maps.
"""
import math
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np
from PIL import Image, ImageDraw

TOY_CLASSES = ('circle', 'square', 'triangle', 'star', 'hexagon', 'cross',
               'diamond', 'arrow')


@dataclass
class ToyObject:
    """One object: ``label`` indexes :data:`TOY_CLASSES`; ``polygon`` is a
    list of ``(x, y)`` pixel coordinates; ``bbox`` is ``(x0, y0, x1, y1)``."""
    label: int
    polygon: List[Tuple[float, float]]

    @property
    def bbox(self) -> Tuple[float, float, float, float]:
        xs, ys = zip(*self.polygon)
        return min(xs), min(ys), max(xs), max(ys)


@dataclass
class ToyScene:
    """An RGB ``image`` ``(H, W, 3)`` uint8 and its ``objects``, the first
    being the main object whose class is the classification label."""
    image: np.ndarray
    objects: List[ToyObject]

    @property
    def label(self) -> int:
        return self.objects[0].label

    def label_map(self) -> np.ndarray:
        """``(H, W)`` uint8: 0 for background, ``label + 1`` on each object
        (the ADE20K convention that ``reduce_zero_label`` expects)."""
        h, w = self.image.shape[:2]
        canvas = Image.new('L', (w, h), 0)
        draw = ImageDraw.Draw(canvas)
        for obj in self.objects:
            draw.polygon(obj.polygon, fill=obj.label + 1)
        return np.asarray(canvas)


def _unit_shape(name: str) -> np.ndarray:
    """Vertices ``(V, 2)`` of a shape inscribed in the unit circle."""
    if name == 'circle':
        t = np.linspace(0, 2 * math.pi, 32, endpoint=False)
        return np.stack([np.cos(t), np.sin(t)], 1)
    if name in ('square', 'triangle', 'hexagon'):
        n = {'square': 4, 'triangle': 3, 'hexagon': 6}[name]
        t = np.arange(n) * 2 * math.pi / n
        return np.stack([np.cos(t), np.sin(t)], 1)
    if name == 'star':
        t = np.arange(10) * math.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        return np.stack([r * np.cos(t), r * np.sin(t)], 1)
    if name == 'cross':
        a, b = 1.0, 0.33
        return np.array([(-b, -a), (b, -a), (b, -b), (a, -b), (a, b), (b, b),
                         (b, a), (-b, a), (-b, b), (-a, b), (-a, -b),
                         (-b, -b)])
    if name == 'diamond':
        return np.array([(0, -1.0), (0.55, 0), (0, 1.0), (-0.55, 0)])
    if name == 'arrow':
        return np.array([(-1.0, -0.25), (0.2, -0.25), (0.2, -0.7), (1.0, 0),
                         (0.2, 0.7), (0.2, 0.25), (-1.0, 0.25)])
    raise KeyError(f'unknown toy shape {name!r}; expected one of {TOY_CLASSES}')


UNIT_SHAPES = {name: _unit_shape(name) for name in TOY_CLASSES}


# Object colours come from a small shared palette, so that colour identifies
# neither the class nor the image: two views of one scene match on shape.
PALETTE = np.array([(220, 60, 50), (40, 120, 220), (240, 200, 40),
                    (60, 170, 80), (160, 70, 200), (240, 240, 240)],
                   dtype=np.float32)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Low-frequency, weakly tinted grey noise, a faint oriented texture and
    pixel noise, ``(H, W, 3)`` float in [0, 255]."""
    grey = rng.uniform(40, 200, size=(rng.integers(2, 6), rng.integers(2, 6), 1))
    grid = grey + rng.uniform(-25, 25, size=grey.shape[:2] + (3, ))
    grid = np.clip(grid, 0, 255)
    low = np.asarray(
        Image.fromarray(grid.astype(np.uint8)).resize((w, h), Image.BICUBIC),
        dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, math.pi)
    freq = rng.uniform(0.15, 0.6)
    texture = np.sin(freq * (xx * math.cos(theta) + yy * math.sin(theta)))
    img = low + rng.uniform(5, 25) * texture[..., None]
    img += rng.normal(0, rng.uniform(3, 12), size=img.shape)
    return img


def _place(rng: np.random.Generator, name: str, radius: float, w: int, h: int,
           taken: List[Tuple[float, float, float, float]]):
    """Rotate, scale and place a shape so that its box stays inside the image
    and off every box in ``taken``; ``None`` if no place was found."""
    theta = rng.uniform(0, 2 * math.pi)
    rot = np.array([[math.cos(theta), -math.sin(theta)],
                    [math.sin(theta), math.cos(theta)]])
    verts = UNIT_SHAPES[name] @ rot.T * radius
    lo, hi = verts.min(0), verts.max(0)
    for _ in range(30):
        cx = rng.uniform(-lo[0], w - 1 - hi[0])
        cy = rng.uniform(-lo[1], h - 1 - hi[1])
        box = (cx + lo[0], cy + lo[1], cx + hi[0], cy + hi[1])
        if all(box[2] + 1 < t[0] or t[2] + 1 < box[0] or box[3] + 1 < t[1]
               or t[3] + 1 < box[1] for t in taken):
            return [(float(x), float(y)) for x, y in verts + (cx, cy)], box
    return None


def make_scene(rng: np.random.Generator, width: int, height: int) -> ToyScene:
    """Draw one scene with ``rng``.

    Args:
        rng (np.random.Generator): The only source of randomness.
        width (int): Image width in pixels.
        height (int): Image height in pixels.
    """
    img = _background(rng, height, width)
    objects: List[ToyObject] = []
    taken: List[Tuple[float, float, float, float]] = []
    size = min(width, height)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    radii = [rng.uniform(0.25, 0.38) * size]
    radii += [rng.uniform(0.07, 0.11) * size
              for _ in range(rng.integers(0, 3))]
    for i, radius in enumerate(radii):
        label = int(rng.integers(len(TOY_CLASSES)))
        placed = _place(rng, TOY_CLASSES[label], radius, width, height, taken)
        if placed is None:
            if i == 0:
                raise RuntimeError('main object did not fit')
            continue
        polygon, box = placed
        taken.append(box)
        objects.append(ToyObject(label, polygon))
        mask_img = Image.new('L', (width, height), 0)
        ImageDraw.Draw(mask_img).polygon(polygon, fill=255)
        mask = np.asarray(mask_img, dtype=np.float32)[..., None] / 255
        colour = PALETTE[rng.integers(len(PALETTE))] * rng.uniform(0.75, 1.0)
        direction = rng.normal(size=2)
        shade = (xx * direction[0] + yy * direction[1]) / (size * 2)
        fill = colour + 60 * shade[..., None]
        img = img * (1 - mask) + fill * mask
    image = np.clip(img, 0, 255).astype(np.uint8)
    return ToyScene(image=image, objects=objects)
