# skycount distro only: skycountd loads libonnxruntime.so through the C API,
# so the Python bindings (and the numpy, sympy and protobuf they bring into
# the image and the build) are left out.
PACKAGECONFIG:remove:skycount = "python"
