"""What each of the paper's data sets is made from (the published archives) and what it must
look like once prepared (splits, image counts, label values): the facts `data prepare` and `data
check` work from. Table in ``ssa_bench.data.prepare``'s doc."""
from __future__ import annotations

from dataclasses import dataclass



@dataclass(frozen=True)
class Archive:
    file: str                  # the file name as published
    url: str                   # where to download it
    unpacked: str              # the folder it unpacks to (accepted instead of the archive)
    marker: str                # a path that exists inside the unpacked folder
    also: tuple[str, ...] = ()  # other places in DIR the file may be (mmseg's docs put it there)


@dataclass(frozen=True)
class Split:
    name: str                  # how mmseg's config names the split's folder / list
    images: str                # folder relative to the dataset root
    labels: str
    expected: int              # the published size of the split
    img_suffix: str = ".jpg"
    seg_suffix: str = ".png"
    list_file: str | None = None   # PASCAL-Context: the split is a list of names


@dataclass(frozen=True)
class Recipe:
    name: str
    archives: tuple[Archive, ...]
    splits: tuple[Split, ...]
    max_label: int             # largest label value on disk (0 = ignored, reduce-zero-label)
    zero_means: str            # what disk label 0 is
    num_classes: int           # classes the model predicts (mmseg's dataset class)
    converter: str | None      # mmseg's converter script, None: the archive is already converted


COCO_ZIP = Archive("cocostuff-10k-v1.1.zip",
                   "http://calvin.inf.ed.ac.uk/wp-content/uploads/data/cocostuffdataset/cocostuff-10k-v1.1.zip",
                   "cocostuff-10k-v1.1", "imageLists/train.txt")
VOC_TAR = Archive("VOCtrainval_03-May-2010.tar",
                  "http://host.robots.ox.ac.uk/pascal/VOC/voc2010/VOCtrainval_03-May-2010.tar",
                  "VOCdevkit", "VOC2010/JPEGImages")
CONTEXT_JSON = Archive("trainval_merged.json",
                       "https://codalabuser.blob.core.windows.net/public/trainval_merged.json "
                       "(the PASCAL-Context annotations, linked from https://cs.stanford.edu/~roozbeh/pascal-context/)",
                       "", "", also=("VOCdevkit/VOC2010/trainval_merged.json", "VOC2010/trainval_merged.json"))
ADE_ZIP = Archive("ADEChallengeData2016.zip",
                  "http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip",
                  "ADEChallengeData2016", "images/training")

RECIPES: dict[str, Recipe] = {r.name: r for r in [
    Recipe("ade20k", (ADE_ZIP,),
           (Split("training", "images/training", "annotations/training", 20210),
            Split("validation", "images/validation", "annotations/validation", 2000)),
           max_label=150, zero_means="other (ignored)", num_classes=150, converter=None),
    Recipe("coco_stuff10k", (COCO_ZIP,),
           (Split("train2014", "images/train2014", "annotations/train2014", 9000,
                  seg_suffix="_labelTrainIds.png"),
            Split("test2014", "images/test2014", "annotations/test2014", 1000,
                  seg_suffix="_labelTrainIds.png")),
           max_label=171, zero_means="unlabeled (ignored)", num_classes=171, converter="coco_stuff10k.py"),
    Recipe("pascal_context59", (VOC_TAR, CONTEXT_JSON),
           (Split("train", "JPEGImages", "SegmentationClassContext", 4996,
                  list_file="ImageSets/SegmentationContext/train.txt"),
            Split("val", "JPEGImages", "SegmentationClassContext", 5104,
                  list_file="ImageSets/SegmentationContext/val.txt")),
           max_label=59, zero_means="background (ignored)", num_classes=59, converter="pascal_context.py"),
]}

IGNORE_INDEX = 255
DETAIL_INSTALL = "pip install 'git+https://github.com/zhanghang1989/detail-api.git#subdirectory=PythonAPI'"


def how_to_prepare(name: str) -> str:
    """The one-line instruction `data check` and a missing dataset print."""
    recipe = RECIPES[name]
    files = " and ".join(a.file for a in recipe.archives)
    return f"download {files} into a folder DIR and run `ssa-bench data prepare {name} --from DIR`"
