"""Writes Jobs/media/: the small pictures and tones the example jobs run on, from synthetic.py with their own seeds
(the demo model never saw them). Usage: python make_job_media.py JOBS_MEDIA_DIR"""
import json
import os
import shutil
import sys

import synthetic


def main(out):
    photos = os.path.join(out, "photos")
    scenes = os.path.join(out, "scenes")
    for folder in (photos, scenes):
        shutil.rmtree(folder, ignore_errors=True)
    labels = {}
    # Eight pictures for captioning and retrieval.
    for item in synthetic.write_images(photos, 4000, 8, prefix="photo"):
        name = item["file"].replace("-00", "-")
        os.rename(os.path.join(photos, item["file"]), os.path.join(photos, name))
        labels["photos/" + name] = " ".join(synthetic.IMAGE_CLASSES[item["label"]])
    # Three scenes: a picture and a tone with the same name, paired by the jobs. From a dozen of each, keep three
    # pictures of different shapes and colours and three different tones.
    images = synthetic.write_images(os.path.join(scenes, "images"), 4001, 12, prefix="scene")
    sounds = synthetic.write_sounds(os.path.join(scenes, "sounds"), 4002, 12, prefix="scene")
    kept_images, shapes, colours = [], set(), set()
    for item in images:
        colour, shape = synthetic.IMAGE_CLASSES[item["label"]]
        if shape not in shapes and colour not in colours and len(kept_images) < 3:
            kept_images.append(item)
            shapes.add(shape)
            colours.add(colour)
    kept_sounds = []
    for item in sounds:
        if item["label"] not in [kept["label"] for kept in kept_sounds] and len(kept_sounds) < 3:
            kept_sounds.append(item)
    for folder, items, kept in (("images", images, kept_images), ("sounds", sounds, kept_sounds)):
        for item in items:
            path = os.path.join(scenes, folder, item["file"])
            if item in kept:
                name = f"scene-{kept.index(item)}" + os.path.splitext(path)[1]
                os.rename(path, os.path.join(scenes, folder, name))
                classes = synthetic.IMAGE_CLASSES if folder == "images" else synthetic.AUDIO_CLASSES
                labels[f"scenes/{folder}/{name}"] = " ".join(classes[item["label"]])
            else:
                os.remove(path)
    # What each file really shows or sounds like, for the tests and for anyone checking the jobs' answers.
    with open(os.path.join(out, "labels.json"), "w") as f:
        json.dump(dict(sorted(labels.items())), f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
