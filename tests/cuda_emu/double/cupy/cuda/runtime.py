"""``cupy.cuda.runtime`` of the double."""


class CUDARuntimeError(RuntimeError):
    pass


def getDeviceCount():
    return 1
