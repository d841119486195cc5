"""``cupy.cuda.driver`` of the double."""


class CUDADriverError(RuntimeError):
    pass
