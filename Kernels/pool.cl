// pool kernels
