"""Convert VOC2012, BSDS500 or any folder of images to sharded TFRecords (see wnet_tf/records.py).

    python tools/make_tfrecords.py VOCdevkit/VOC2012 --split trainval -o records/
    python tools/make_tfrecords.py ../shared/data/bsds500 --split train -o records/

The same command as `wnet-tf make-records`.
"""

from wnet_tf.records import command

if __name__ == "__main__":
    command()
