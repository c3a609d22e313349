"""Image folders: one subfolder per class (fit), or any folder of images (predict), via Keras' loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autosearch.errors import AutosearchError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_SIDE = 128  # larger images are shrunk to this, keeping their aspect ratio


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def image_format(first: Path) -> tuple[tuple[int, int], str]:
    """(height, width) and colour mode for a folder, from its first image; large ones capped at MAX_SIDE."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(first) as image:
            (width, height), pil_mode = image.size, image.mode
    except (OSError, UnidentifiedImageError) as e:
        raise AutosearchError(f"cannot read image '{first}' ({e}); remove or replace it") from None
    scale = min(1.0, MAX_SIDE / max(width, height))
    mode = "grayscale" if pil_mode in ("L", "1", "I", "I;16", "LA") else "rgb"
    return (max(1, round(height * scale)), max(1, round(width * scale))), mode


def _readable(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()  # decodes it all: a truncated or damaged file fails here
        return True
    except Exception:
        return False


def load_image_folder(folder: Path, labelled: bool, size: tuple[int, int] | None = None,
                      mode: str | None = None) -> tuple[np.ndarray, list[str] | None, list[str], tuple, str]:
    """Images as an (N, H, W, C) float32 array, their class names (if `labelled`), files, size and mode."""
    files = image_files(folder)
    if not files:
        raise AutosearchError(f"folder '{folder}' holds no PNG or JPEG images; give a folder of images with "
                              "one subfolder per class")
    if labelled and not any(p.is_dir() for p in folder.iterdir()):
        raise AutosearchError(f"folder '{folder}' has no class subfolders; put each class's images in a "
                              "subfolder named after the class")
    if size is None or mode is None:
        size, mode = image_format(files[0])
    from autosearch.models import load_keras

    keras = load_keras()
    dataset = keras.utils.image_dataset_from_directory(
        folder, labels="inferred" if labelled else None, label_mode="int", color_mode=mode, image_size=size,
        shuffle=False, batch_size=None, verbose=False)
    names = list(dataset.class_names) if labelled else None
    images, labels = [], []
    try:
        for item in dataset.as_numpy_iterator():
            image, label = item if labelled else (item, None)
            images.append(image)
            labels.append(label)
    except Exception as error:  # TensorFlow's decoder met a file it cannot read: say which
        bad = [p for p in files if not _readable(p)]
        named = ", ".join(str(p) for p in bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise AutosearchError(f"{len(bad)} image(s) in '{folder}' cannot be read ({named}); remove or replace them"
                              if bad else f"an image in '{folder}' cannot be decoded "
                              f"({str(error).strip().splitlines()[0][:200]}); check its images") from None
    X = np.stack(images).astype(np.float32)
    y = [names[i] for i in labels] if labelled else None
    return X, y, [str(p) for p in dataset.file_paths], size, mode
