// optim kernels
