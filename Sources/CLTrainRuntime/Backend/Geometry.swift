/// Kernel size, stride, padding and dilation of a 2-D convolution.
public struct Conv2dGeometry: Hashable, Sendable, CustomStringConvertible {
    public var kernelH: Int, kernelW: Int
    public var strideH: Int, strideW: Int
    public var padH: Int, padW: Int
    public var dilationH: Int, dilationW: Int

    public init(kernel: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1) {
        self.init(kernelH: kernel, kernelW: kernel, strideH: stride, strideW: stride,
                  padH: padding, padW: padding, dilationH: dilation, dilationW: dilation)
    }

    public init(kernelH: Int, kernelW: Int, strideH: Int, strideW: Int, padH: Int, padW: Int, dilationH: Int, dilationW: Int) {
        precondition(kernelH > 0 && kernelW > 0 && strideH > 0 && strideW > 0 && dilationH > 0 && dilationW > 0 && padH >= 0 && padW >= 0,
                     "invalid convolution geometry")
        self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW
        self.padH = padH; self.padW = padW
        self.dilationH = dilationH; self.dilationW = dilationW
    }

    public func outputHeight(_ inputHeight: Int) -> Int {
        (inputHeight + 2 * padH - dilationH * (kernelH - 1) - 1) / strideH + 1
    }

    public func outputWidth(_ inputWidth: Int) -> Int {
        (inputWidth + 2 * padW - dilationW * (kernelW - 1) - 1) / strideW + 1
    }

    /// A 1x1 convolution with stride 1 and no padding: a plain matrix product per sample.
    public var isPointwise: Bool {
        kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && padH == 0 && padW == 0
    }

    public var description: String {
        "\(kernelH)x\(kernelW)/s\(strideH)" + (padH > 0 ? "/p\(padH)" : "") + (dilationH > 1 ? "/d\(dilationH)" : "")
    }
}

/// Window, stride and padding of a max or average pooling.
public struct Pool2dGeometry: Hashable, Sendable, CustomStringConvertible {
    public var kernelH: Int, kernelW: Int
    public var strideH: Int, strideW: Int
    public var padH: Int, padW: Int

    public init(kernel: Int, stride: Int? = nil, padding: Int = 0) {
        let s = stride ?? kernel
        precondition(kernel > 0 && s > 0 && padding >= 0 && padding * 2 <= kernel, "invalid pooling geometry")
        kernelH = kernel; kernelW = kernel
        strideH = s; strideW = s
        padH = padding; padW = padding
    }

    /// Output size without ceil mode, as PyTorch computes it.
    public func outputHeight(_ inputHeight: Int) -> Int { (inputHeight + 2 * padH - kernelH) / strideH + 1 }
    public func outputWidth(_ inputWidth: Int) -> Int { (inputWidth + 2 * padW - kernelW) / strideW + 1 }

    public var description: String { "\(kernelH)x\(kernelW)/s\(strideH)" + (padH > 0 ? "/p\(padH)" : "") }
}
