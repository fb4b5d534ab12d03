"""kcv.data: the offline data sets do what each chapter needs from them.

Pure-numpy checks are ``backend_independent``; the checks that train or use
``keras.ops`` run once per backend. Nothing here touches the network: the
CIFAR loaders are tested against a probe made to fail and a fake cache.
"""

import gzip
import os
import pickle
import socket
import threading
import time

import keras
import numpy as np
import pytest
from scipy import ndimage

import kcv
from kcv import data
from kcv.data import cifar

independent = pytest.mark.backend_independent

GENERATORS = [data.shapes, data.scenes, data.thin_structures, data.multiscale_objects]
SEGMENTATION = [data.scenes, data.thin_structures, data.multiscale_objects]


def _components(mask):
    """8-connected components of a boolean image: labels and slices."""
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3)))
    return labels, ndimage.find_objects(labels)


# --- Every procedural set -----------------------------------------------------


@independent
@pytest.mark.parametrize("generate", GENERATORS, ids=lambda f: f.__name__)
def test_same_seed_same_data_other_seed_other_data(generate):
    first, again, other = generate(6, seed=3), generate(6, seed=3), generate(6, seed=4)
    np.testing.assert_array_equal(first.x, again.x)
    np.testing.assert_array_equal(first.y, again.y)
    assert not np.array_equal(first.x, other.x)


@independent
@pytest.mark.parametrize("generate", GENERATORS, ids=lambda f: f.__name__)
def test_shapes_dtypes_and_ranges(generate):
    ds = generate(12, size=32)
    assert ds.x.shape == (12, 32, 32, 3) and ds.x.dtype == np.float32
    assert ds.x.min() >= 0.0 and ds.x.max() <= 1.0
    assert ds.y.dtype == np.int32 and len(ds) == 12
    assert ds.y.shape == ((12,) if generate is data.shapes else (12, 32, 32))
    assert ds.y.min() >= 0 and ds.y.max() < ds.num_classes


@independent
@pytest.mark.parametrize("generate", SEGMENTATION, ids=lambda f: f.__name__)
def test_masks_hold_only_class_ids_and_every_class_appears(generate):
    ds = generate(30)
    assert set(np.unique(ds.y)) == set(range(ds.num_classes))


@independent
def test_shape_classes_are_balanced():
    counts = np.bincount(data.shapes(105).y, minlength=10)
    assert counts.min() == 10 and counts.max() == 11


@independent
@pytest.mark.parametrize("generate", GENERATORS, ids=lambda f: f.__name__)
def test_channels_first_is_the_same_images_transposed(generate):
    last = generate(3, size=32, data_format="channels_last")
    first = generate(3, size=32, data_format="channels_first")
    np.testing.assert_array_equal(first.x, last.x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(first.y, last.y)


@independent
def test_data_format_none_follows_keras_config():
    keras.config.set_image_data_format("channels_first")
    assert data.shapes(2, size=16).x.shape == (2, 3, 16, 16)
    assert data.digits(size=8, split="test").x.shape[1:] == (1, 8, 8)


# --- What each set is for -------------------------------------------------------


@independent
def test_scene_type_decides_which_classes_appear():
    ds = data.scenes(90, seed=0)
    scene, allowed = ds.extras["scene"], ds.extras["scene_classes"]
    assert np.bincount(scene).tolist() == [30, 30, 30]
    for k, name in enumerate(ds.extras["scene_names"]):
        assert [ds.class_names[c] for c in allowed[k]] == list(data.SCENE_OBJECTS[name])
        seen = set(np.unique(ds.y[scene == k])) - {0}
        assert seen == set(allowed[k])  # all of its classes, and no other


@independent
def test_scene_objects_of_one_family_look_alike_across_scenes():
    """A car (street) and a boat (sea) are the same wide box: equal mean area."""
    ds = data.scenes(300, seed=0)
    area = np.array(
        [(ds.y == c).sum() / max(1, (ds.y == c).any(axis=(1, 2)).sum()) for c in range(1, 10)]
    )
    for family in range(3):
        same = area[family::3]
        assert same.max() / same.min() < 1.25


@independent
def test_ignore_boundaries_only_relabels_a_thin_band():
    plain = data.scenes(10, seed=1)
    ignored = data.scenes(10, seed=1, ignore_boundaries=True)
    np.testing.assert_array_equal(plain.x, ignored.x)
    band = ignored.y == data.IGNORE_INDEX
    assert 0.0 < band.mean() < 0.1
    np.testing.assert_array_equal(ignored.y[~band], plain.y[~band])
    # The band lies along object outlines: an object pixel is at most 2 pixels away.
    objects = (ignored.y > 0) & ~band
    assert ndimage.binary_dilation(objects, structure=np.ones((1, 5, 5)))[band].all()


@independent
def test_thin_structures_are_long_and_thin_and_blobs_compact():
    ds = data.thin_structures(40, seed=0)
    size = ds.y.shape[1]
    for label, long_share in ((1, 0.5), (2, 0.05)):
        total = spanning = 0
        half_widths = []
        for mask in ds.y == label:
            components, slices = _components(mask)
            inside = ndimage.distance_transform_edt(mask)
            for k, window in enumerate(slices, start=1):
                pixels = components[window] == k
                total += pixels.sum()
                spanning += pixels.sum() * (max(pixels.shape) >= size // 2)
                half_widths.append(inside[window][pixels].max())
        if label == 1:  # most line pixels belong to lines across half the frame
            assert spanning / total > long_share
            assert np.percentile(half_widths, 95) <= 2.5  # at most ~5 px thick
        else:  # blobs never span half the frame
            assert spanning / total < long_share
            assert np.median(half_widths) > 2.0


@independent
def test_thin_structures_run_in_every_direction():
    ds = data.thin_structures(60, seed=0)
    angles = []
    for mask in ds.y == 1:
        components, slices = _components(mask)
        for k, window in enumerate(slices, start=1):
            rows, cols = np.nonzero(components[window] == k)
            if len(rows) >= 20:  # the principal axis of the pixels' spread
                spread = np.cov(np.stack([cols, rows]).astype(float))
                angle = 0.5 * np.arctan2(2 * spread[0, 1], spread[0, 0] - spread[1, 1])
                angles.append(abs(np.degrees(angle)))
    angles = np.array(angles)
    horizontal, vertical = np.mean(angles < 10), np.mean(angles > 80)
    assert horizontal > 0.2 and vertical > 0.2 and 1 - horizontal - vertical > 0.05


@independent
def test_multiscale_objects_span_scales():
    ds = data.multiscale_objects(200, seed=0)
    radius = ds.extras["object_radius"]
    assert radius[radius > 0].max() / radius[radius > 0].min() > 10
    areas = []
    for mask in ds.y:
        for label in range(1, ds.num_classes):
            components, slices = _components(mask == label)
            areas += [(components[w] == k).sum() for k, w in enumerate(slices, start=1)]
    low, high = np.percentile(areas, [1, 99])
    assert high / low > 50
    assert high > 0.4 * ds.y.shape[1] * ds.y.shape[2]  # nearly full frame
    # Every class appears both small and large.
    small = np.zeros(4, bool)
    large = np.zeros(4, bool)
    classes = ds.extras["object_class"]
    np.logical_or.at(small, classes[(radius > 0) & (radius < 4)], True)
    np.logical_or.at(large, classes[radius > 20], True)
    assert small[1:].all() and large[1:].all()


@independent
def test_multiscale_extras_follow_the_masks():
    ds = data.multiscale_objects(20, seed=2)
    classes, radius = ds.extras["object_class"], ds.extras["object_radius"]
    assert classes.shape == radius.shape == (20, 3)
    assert np.all((classes > 0) == (radius > 0))
    assert np.all(np.diff(radius, axis=1) <= 0)  # largest first
    for mask, present in zip(ds.y, classes):
        assert set(np.unique(mask)) - {0} <= set(present) - {0}


# --- The Dataset type -------------------------------------------------------------


@independent
def test_indexing_keeps_per_image_extras_in_step():
    ds = data.scenes(10, seed=0)
    part = ds[[7, 2]]
    np.testing.assert_array_equal(part.x, ds.x[[7, 2]])
    np.testing.assert_array_equal(part.extras["scene"], ds.extras["scene"][[7, 2]])
    assert part.extras["scene_names"] == data.SCENE_TYPES
    assert ds[3].x.shape == (1, 64, 64, 3)
    assert len(ds[2:5]) == 3
    assert repr(ds).startswith("Dataset(x=float32(10, 64, 64, 3), y=int32(10, 64, 64), 10 classes")


@independent
def test_batches_visit_every_image_once_in_a_new_seeded_order_each_epoch():
    ds = data.shapes(10)
    ds.y = np.arange(10, dtype=np.int32)  # label = index, to follow the order
    batches = ds.batches(4, seed=1)
    assert len(batches) == 3
    first = np.concatenate([yb for _, yb in batches])
    assert sorted(first) == list(range(10))
    np.testing.assert_array_equal(first, np.concatenate([yb for _, yb in ds.batches(4, seed=1)]))
    batches.on_epoch_end()  # what model.fit calls between epochs
    second = np.concatenate([yb for _, yb in batches])
    assert sorted(second) == list(range(10)) and not np.array_equal(first, second)
    plain = [yb.tolist() for _, yb in ds.batches(4, shuffle=False, drop_remainder=True)]
    assert plain == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(IndexError):
        batches[3]


@independent
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: data.shapes(0), "`n` must be an integer >= 1"),
        (lambda: data.shapes(4, size=8), "`size` must be an integer >= 16"),
        (lambda: data.scenes(4, size=16), "`size` must be an integer >= 32"),
        (lambda: data.thin_structures(4, seed=-1), "`seed` must be an integer >= 0"),
        (lambda: data.multiscale_objects(4, noise=2), r"`noise` must be a number in \[0.0, 1.0\]"),
        (lambda: data.shapes(4, data_format="NHWC"), "`data_format` must be one of"),
        (lambda: data.scenes(4, max_objects=0), "`max_objects` must be an integer >= 1"),
        (lambda: data.multiscale_objects(4, scales=(0.3, 0.1)), "`scales` must be a pair"),
        (lambda: data.digits(channels=2), "`channels` must be one of 1, 3"),
        (lambda: data.digits(split="val"), "`split` must be one of 'train', 'test', 'all'"),
        (lambda: data.digits(size=4), "`size` must be an integer >= 8"),
        (lambda: data.digits(test_fraction=1.5), "`test_fraction` must be a number in"),
        (lambda: data.shapes(4).batches(0), "`batch_size` must be an integer >= 1"),
        (lambda: data.cifar10(split="valid"), "`split` must be one of 'train', 'test'"),
        (lambda: data.cifar100(label_mode="medium"), "`label_mode` must be one of"),
        (lambda: data.cifar10(timeout=0), "`timeout` must be a number > 0"),
    ],
)
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- Digits -------------------------------------------------------------------


# The test set's images per class, as UCI's description of the data (optdigits.names) lists them.
UCI_TEST_CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


@independent
def test_digits_are_the_1797_uci_images_split_by_class():
    every = data.digits(split="all")
    train, test = data.digits(split="train"), data.digits(split="test")
    assert len(every) == 1797 and every.class_names == tuple("0123456789")
    np.testing.assert_array_equal(np.bincount(every.y), UCI_TEST_CLASS_COUNTS)
    np.testing.assert_array_equal(every.extras["index"], np.arange(1797))
    assert len(train) + len(test) == 1797
    assert not set(train.extras["index"]) & set(test.extras["index"])
    expected = np.round(0.2 * np.array(UCI_TEST_CLASS_COUNTS))
    np.testing.assert_array_equal(np.bincount(test.y, minlength=10), expected)
    np.testing.assert_array_equal(test.y, every.y[test.extras["index"]])
    again, other = data.digits(split="test"), data.digits(split="test", seed=1)
    np.testing.assert_array_equal(again.extras["index"], test.extras["index"])
    assert not np.array_equal(other.extras["index"], test.extras["index"])


@independent
def test_digits_resize_scale_and_channels():
    native = data.digits(size=8, split="all")
    counts = native.x[..., 0] * 16.0  # at 8x8 no resizing: the pixel counts, divided by 16
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-5)
    assert counts.min() == 0 and round(float(counts.max())) == 16
    rgb = data.digits(size=28, channels=3, split="test")
    assert rgb.x.shape == (359, 28, 28, 3) and rgb.x.dtype == np.float32
    assert rgb.x.min() >= 0.0 and rgb.x.max() <= 1.0
    np.testing.assert_array_equal(rgb.x[..., 0], rgb.x[..., 2])


@independent
def test_the_digits_file_is_checked_before_it_is_read(tmp_path):
    """A copy with one pixel count changed is refused, naming the file and its checksum."""
    from kcv.data.digits import DIGITS_FILE
    from kcv.data.digits import read_digits

    with gzip.open(DIGITS_FILE, "rb") as f:
        text = f.read()
    pixels, labels = read_digits()
    assert labels[0] == 0
    assert text.startswith(b"0,0,5,13,9,1,0,0,") and text.count(b"\n") == 1797
    np.testing.assert_array_equal(pixels[0, 0], [0, 0, 5, 13, 9, 1, 0, 0])
    damaged = tmp_path / "optdigits_test.csv.gz"
    with gzip.open(damaged, "wb") as f:
        f.write(text.replace(b"0,0,5,13,9,1,", b"0,0,5,13,9,2,", 1))
    with pytest.raises(RuntimeError, match=r"optdigits_test.csv.gz is damaged: its SHA-256 is"):
        read_digits(str(damaged))


# --- CIFAR, offline -----------------------------------------------------------


@pytest.fixture
def no_download(monkeypatch):
    """Fails the test if the Keras downloader is ever called."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to download")

    monkeypatch.setattr(keras.utils, "get_file", refuse)


@independent
@pytest.mark.parametrize("load", [data.cifar10, data.cifar100], ids=["cifar10", "cifar100"])
def test_cifar_offline_fails_fast_with_a_clear_message(load, tmp_path, monkeypatch, no_download):
    monkeypatch.setattr(cifar, "_can_reach", lambda url, timeout: False)
    start = time.monotonic()
    with pytest.raises(data.DatasetUnavailableError) as raised:
        load(cache_dir=str(tmp_path), timeout=1.0)
    assert time.monotonic() - start < 2.0
    message = str(raised.value)
    assert "looks offline" in message and "www.cs.toronto.edu" in message
    assert str(tmp_path / "datasets") in message  # where to put the file
    assert "kcv.data.shapes()" in message and "kcv.data.digits()" in message
    assert isinstance(raised.value, OSError)


@independent
def test_cifar_failed_download_is_reported_with_the_same_advice(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise Exception("URL fetch failure on https://www.cs.toronto.edu: None -- timed out")

    monkeypatch.setattr(cifar, "_can_reach", lambda url, timeout: True)
    monkeypatch.setattr(keras.utils, "get_file", fail)
    with pytest.raises(data.DatasetUnavailableError, match="failed: URL fetch failure"):
        data.cifar10(cache_dir=str(tmp_path))


@independent
def test_reachability_probe_never_hangs(monkeypatch):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    monkeypatch.setattr(cifar.urllib.request, "getproxies", lambda: {})
    try:
        assert cifar._can_reach(f"http://127.0.0.1:{port}/file", timeout=2.0)
    finally:
        server.close()
    assert not cifar._can_reach(f"http://127.0.0.1:{port}/file", timeout=2.0)  # refused

    released = threading.Event()

    def stuck(*args, **kwargs):  # a name lookup that does not answer before the test ends
        released.wait(30)
        raise OSError("name lookup timed out")

    monkeypatch.setattr(cifar.socket, "create_connection", stuck)
    start = time.monotonic()
    try:
        assert not cifar._can_reach("https://unreachable.example/file", timeout=0.3)
        assert time.monotonic() - start < 1.5
    finally:
        released.set()  # the abandoned probe thread ends without an error


def _write_pickle(path, content):
    with open(path, "wb") as file:
        pickle.dump(content, file, protocol=4)  # bytes stay bytes, as in the real files


def _cache_folder(root, inner):
    """The folder ``keras.datasets`` extracts a CIFAR archive to, under ``root``."""
    folder = root / "datasets" / f"{inner}-target" / inner
    folder.mkdir(parents=True)
    return folder


@independent
def test_cifar10_loads_from_the_keras_cache(tmp_path, monkeypatch, no_download):
    folder = _cache_folder(tmp_path, "cifar-10-batches-py")
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        pixels = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        _write_pickle(folder / name, {b"data": pixels, b"labels": [0, 1, 2, 1]})
    names = [
        n.encode()
        for n in (
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        )
    ]
    _write_pickle(folder / "batches.meta", {b"label_names": names})
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    train, test = data.cifar10("train"), data.cifar10("test")
    assert train.x.shape == (20, 32, 32, 3) and test.x.shape == (4, 32, 32, 3)
    assert train.x.dtype == np.float32 and train.x.min() >= 0.0 and train.x.max() <= 1.0
    assert train.y.tolist() == [0, 1, 2, 1] * 5 and train.y.dtype == np.int32
    assert train.class_names == tuple(n.decode() for n in names)
    first = data.cifar10("test", data_format="channels_first")
    np.testing.assert_array_equal(first.x, test.x.transpose(0, 3, 1, 2))


@independent
def test_load_switches_a_chapter_to_cifar10_at_its_size_and_channels(
    tmp_path, monkeypatch, no_download
):
    """``kcv.data.load("cifar10", ...)``: the first n images of the cached split, resized
    (a constant image stays constant, a vertical ramp keeps its order) and made grey with
    BT.601's weights; the procedural and digits sets pass through unchanged."""
    folder = _cache_folder(tmp_path, "cifar-10-batches-py")
    ramp = np.broadcast_to(np.arange(32, dtype=np.uint8)[:, None] * 8, (32, 32))
    red = np.stack([np.full((32, 32), 200), np.zeros((32, 32)), np.zeros((32, 32))])
    images = np.stack([np.stack([ramp] * 3), red, np.zeros((3, 32, 32)), red]).astype(np.uint8)
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        _write_pickle(folder / name, {b"data": images.reshape(4, 3072), b"labels": [3, 1, 4, 1]})
    _write_pickle(folder / "batches.meta", {b"label_names": [str(k).encode() for k in range(10)]})
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    grey = data.load("cifar10", "test", n=2, size=16, channels=1)
    assert grey.x.shape == (2, 16, 16, 1) and grey.y.tolist() == [3, 1]
    assert np.all(np.diff(grey.x[0, :, 0, 0]) > 0)  # the ramp, resized, still rises
    np.testing.assert_allclose(grey.x[1], 0.299 * 200 / 255, rtol=1e-6)  # red in grey
    colour = data.load("cifar10", "train", size=32, data_format="channels_first")
    assert colour.x.shape == (20, 3, 32, 32)
    np.testing.assert_array_equal(colour.x, data.cifar10("train", data_format="channels_first").x)
    with pytest.raises(ValueError, match="`n` must be at most the 4 images of cifar10's test"):
        data.load("cifar10", "test", n=5)
    shapes = data.load("shapes", "test", n=6, size=16, seed=3)
    np.testing.assert_array_equal(shapes.x, data.shapes(6, size=16, seed=3).x)
    digits_train = data.load("digits", "train", n=5, size=16, seed=7)  # its split is fixed
    np.testing.assert_array_equal(digits_train.x, data.digits(16, 3, "train").x[:5])
    digits = data.load("digits", "test", n=5, size=16, channels=3)
    np.testing.assert_array_equal(digits.x, data.digits(16, 3, "test").x[:5])


@independent
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: data.load("mnist"), "`name` must be one of 'shapes', 'digits', 'cifar10'"),
        (lambda: data.load("shapes", n=None), '`n` must be a number of images for "shapes"'),
        (lambda: data.load("digits", "val"), "`split` must be one of 'train', 'test'"),
        (lambda: data.load("digits", size=8), "`size` must be an integer >= 16"),
        (lambda: data.load("digits", channels=2), "`channels` must be one of 1, 3"),
        (lambda: data.load("digits", "test", n=400), "`n` must be at most the 359 images"),
    ],
)
def test_load_names_its_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@independent
def test_cifar100_label_modes_from_a_given_cache_dir(tmp_path, no_download):
    folder = _cache_folder(tmp_path, "cifar-100-python")
    pixels = np.arange(2 * 3072).reshape(2, 3072).astype(np.uint8)
    for name in ("train", "test"):
        _write_pickle(
            folder / name, {b"data": pixels, b"fine_labels": [42, 7], b"coarse_labels": [3, 19]}
        )
    _write_pickle(
        folder / "meta",
        {
            b"fine_label_names": [f"fine{k}".encode() for k in range(100)],
            b"coarse_label_names": [f"coarse{k}".encode() for k in range(20)],
        },
    )
    fine = data.cifar100("test", cache_dir=str(tmp_path))
    coarse = data.cifar100("test", label_mode="coarse", cache_dir=str(tmp_path))
    assert fine.y.tolist() == [42, 7] and fine.num_classes == 100
    assert coarse.y.tolist() == [3, 19] and coarse.class_names[19] == "coarse19"
    # A row of 3072 bytes is 3 planes of 32x32: red first, row by row.
    np.testing.assert_allclose(fine.x[0, 0, :, 0], np.arange(32) / 255.0)


@independent
def test_cifar_refuses_pickles_that_would_run_code(tmp_path):
    folder = _cache_folder(tmp_path, "cifar-10-batches-py")
    _write_pickle(folder / "test_batch", {b"data": os.getcwd})  # names a function
    with pytest.raises(pickle.UnpicklingError, match="Refusing to load"):
        data.cifar10("test", cache_dir=str(tmp_path))


# --- Per backend: the sets train, and agree with keras.ops ---------------------


def _classifier(input_shape, classes):
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(classes),
        ]
    )


def _segmenter(input_shape, classes):
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(classes, 1),
        ]
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: data.shapes(32, size=16),
        lambda: data.digits(size=16, split="test")[:32],
        lambda: data.scenes(16, size=32, ignore_boundaries=True),
        lambda: data.thin_structures(16, size=32),
        lambda: data.multiscale_objects(16, size=32),
    ],
    ids=["shapes", "digits", "scenes", "thin_structures", "multiscale_objects"],
)
def test_a_small_model_fits_one_epoch(make):
    ds = make()
    build = _classifier if ds.y.ndim == 1 else _segmenter
    model = build(ds.x.shape[1:], ds.num_classes)
    loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=ds.extras.get("ignore_index")
    )
    model.compile(optimizer="adam", loss=loss)
    history = model.fit(ds.x, ds.y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_fit_takes_batches_for_several_epochs():
    ds = data.thin_structures(12, size=32)
    model = _segmenter(ds.x.shape[1:], ds.num_classes)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="sgd", loss=loss)
    history = model.fit(ds.batches(4, seed=0), epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"])) and len(history.history["loss"]) == 2


def test_presence_targets_follow_the_scene_type():
    ds = data.scenes(24, size=32, ignore_boundaries=True)
    present = keras.ops.convert_to_numpy(
        kcv.losses.presence_targets(ds.y, ds.num_classes, ignore_index=data.IGNORE_INDEX)
    )
    for row, scene in zip(present, ds.extras["scene"]):
        allowed = set(ds.extras["scene_classes"][scene])
        assert set(np.flatnonzero(row)) - {0} <= allowed
        assert row[sorted(allowed)].sum() >= 1


def test_digits_resize_matches_keras_bilinear():
    from kcv.data.digits import read_digits
    from kcv.data.digits import resize_bilinear

    images = read_digits()[0][:5].astype("float32") / 16.0
    ours = resize_bilinear(images, 32)
    theirs = keras.ops.image.resize(
        images[..., None],
        (32, 32),
        interpolation="bilinear",
        antialias=False,
        data_format="channels_last",
    )
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs)[..., 0], atol=1e-5)


@independent
@pytest.mark.parametrize("size", [3, 9])
def test_resize_is_pytorchs_bilinear_in_either_layout(size):
    """Up- and downsampling as torch.nn.functional.interpolate(bilinear, align_corners=False,
    no antialiasing) computes it, from a non-square input; the two layouts agree."""
    import torch

    images = np.random.default_rng(0).uniform(size=(2, 3, 5, 7)).astype("float32")
    reference = torch.nn.functional.interpolate(
        torch.from_numpy(images), size=(size, size), mode="bilinear", align_corners=False
    ).numpy()
    first = data.resize(images, size, data_format="channels_first")
    np.testing.assert_allclose(first, reference, atol=1e-6)
    last = data.resize(images.transpose(0, 2, 3, 1), size, data_format="channels_last")
    np.testing.assert_allclose(last, reference.transpose(0, 2, 3, 1), atol=1e-6)


@independent
def test_resize_converts_channels_as_load_does():
    rgb = np.random.default_rng(1).uniform(size=(2, 4, 4, 3)).astype("float32")
    grey = data.resize(rgb, 4, channels=1, data_format="channels_last")
    np.testing.assert_allclose(grey[..., 0], rgb @ np.array([0.299, 0.587, 0.114]), atol=1e-6)
    back = data.resize(grey, 4, channels=3, data_format="channels_last")
    np.testing.assert_array_equal(back, np.repeat(grey, 3, axis=-1))
    unchanged = data.resize(rgb, 4, data_format="channels_last")
    np.testing.assert_array_equal(unchanged, rgb)
    cifar_like = data.resize(rgb, 16, channels=1, data_format="channels_last")
    assert cifar_like.shape == (2, 16, 16, 1) and cifar_like.dtype == np.float32


@independent
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: data.resize(np.zeros((4, 4, 3)), 8), r"`images` must be a batch of images"),
        (
            lambda: data.resize(np.zeros((1, 3, 4, 4)), 8, data_format="channels_last"),
            r"`images` must be a batch of images \(N, H, W, C\) with C = 1 or 3",
        ),
        (lambda: data.resize(np.zeros((1, 4, 4, 3)), 0), "`size` must be an integer >= 1"),
        (lambda: data.resize(np.zeros((1, 4, 4, 3)), 8, channels=2), "`channels` must be one of"),
    ],
)
def test_resize_names_its_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
