#!/usr/bin/env bash
# Every stage of Algorithm 2 scored on a BSDS500 split (SC, PRI, VI at ODS / OIS, 99 thresholds):
#   (a) the encoder's argmax, (b) after the dense CRF, (c) W-Net: CRF + boundary strength + UCM,
#   (c) without the network: the same image cues and UCM on every edge (the ablation),
#   (d) W-Net+ucm (with gPb-owt-ucm hierarchies; test only, where they exist).
#
#   tools/score_stages.sh MODEL BSDS_ROOT SPLIT OUT [--set postprocess.key=value ...]
#
# MODEL: a shipped model's name (bsds500) or a SavedModel folder. BSDS_ROOT: the BSR package's
# bsds500 folder (images/, groundTruth/, gpb_owt_ucm/). Each stage's summary.json lands in OUT/<stage>.
set -euo pipefail
model=$1 root=$2 split=$3 out=$4
shift 4
images=$root/images/$split gt=$root/groundTruth/$split
wnet=${WNET:-wnet-tf}
mkdir -p "$out"
$wnet segment "$images" --model "$model" --out "$out/a_argmax/segs" >/dev/null
$wnet evaluate --gt "$gt" --segs "$out/a_argmax/segs" --out "$out/a_argmax"
$wnet segment "$images" --model "$model" --crf --out "$out/b_crf/segs" >/dev/null
$wnet evaluate --gt "$gt" --segs "$out/b_crf/segs" --out "$out/b_crf"
$wnet postprocess --model "$model" --images "$images" --out "$out/c_wnet/ucm" "$@"
$wnet evaluate --gt "$gt" --ucm "$out/c_wnet/ucm" --out "$out/c_wnet"
# The ablation reads the image cues' parameters from the config the W-Net stage used.
$wnet postprocess --images "$images" --config "$out/c_wnet/ucm/config.json" \
  --out "$out/c_no_network/ucm" "$@"
$wnet evaluate --gt "$gt" --ucm "$out/c_no_network/ucm" --out "$out/c_no_network"
if [ -d "$root/gpb_owt_ucm/$split" ]; then
  $wnet postprocess --model "$model" --images "$images" --gpb-ucm "$root/gpb_owt_ucm/$split" \
    --out "$out/d_wnet_ucm/ucm" "$@"
  $wnet evaluate --gt "$gt" --ucm "$out/d_wnet_ucm/ucm" --out "$out/d_wnet_ucm"
fi
