import CLTrainRandom
import CLTrainRuntime

/// Builders of `OpCase`s for every op of the `Backend` protocol, at any shape. Where `sliced` is
/// set, the op's output (and, for convolutions, its input) is a channel slice of a larger tensor,
/// as inside a DenseNet block, and the results include the untouched neighbouring channels.
public enum OpCatalog {
    static let floatBytes = Double(MemoryLayout<Float>.stride)

    /// A tensor of `shape` holding uniform values in [low, high), drawn from `random`.
    static func random(_ device: Device, _ shape: [Int], _ random: inout SeededRandom, _ low: Float = -1, _ high: Float = 1) throws -> Tensor {
        try device.tensor(random.uniforms(shape.reduce(1, *), low, high), shape: shape)
    }

    /// A random NCHW tensor, or, when `sliced`, channels 2..<2+C of a random tensor of C+3
    /// channels (returned as `whole` so results can include the neighbours).
    static func randomNCHW(_ device: Device, _ shape: [Int], sliced: Bool, _ random: inout SeededRandom) throws -> (view: Tensor, whole: Tensor) {
        guard sliced else {
            let t = try Self.random(device, shape, &random)
            return (t, t)
        }
        var big = shape
        big[1] += 3
        let whole = try Self.random(device, big, &random)
        return (whole.channels(2..<2 + shape[1]), whole)
    }

    static func describe(_ shape: [Int]) -> String { shape.map(String.init).joined(separator: "x") }

    /// A random batch norm + ReLU of `c` channels for a convolution to apply to its input
    /// (its shift puts about a third of the values under 0).
    static func randomInputNorm(_ device: Device, _ c: Int, _ random: inout SeededRandom) throws -> BatchNormReLU {
        BatchNormReLU(mean: try Self.random(device, [c], &random, -0.3, 0.3), invStd: try Self.random(device, [c], &random, 0.5, 1.5),
                      weight: try Self.random(device, [c], &random, 0.5, 1.5), bias: try Self.random(device, [c], &random, -0.5, 0.2))
    }

    // MARK: Convolution

    /// `inputNorm`: the convolution applies a batch norm + ReLU to its input as it reads it.
    public static func conv2dForward(n: Int, cin: Int, h: Int, w: Int, cout: Int, geometry g: Conv2dGeometry,
                                     bias: Bool = false, sliced: Bool = false, inputNorm: Bool = false) -> OpCase {
        let ho = g.outputHeight(h), wo = g.outputWidth(w)
        let k = cin * g.kernelH * g.kernelW
        let flops = 2.0 * Double(n * cout * ho * wo) * Double(k)
        let bytes = floatBytes * Double(n * cin * h * w + cout * k + n * cout * ho * wo)
        return OpCase(op: "conv2d_forward", family: "conv",
                      shape: "\(describe([n, cin, h, w])) \(g) -> \(cout)\(bias ? " +bias" : "")\(sliced ? " slice" : "")"
                        + (inputNorm ? " +bn-relu" : ""),
                      flops: flops, bytes: bytes) { device, random in
            let input = try randomNCHW(device, [n, cin, h, w], sliced: sliced, &random).view
            let weight = try Self.random(device, [cout, cin, g.kernelH, g.kernelW], &random, -0.5, 0.5)
            let b = bias ? try Self.random(device, [cout], &random) : nil
            let output = try randomNCHW(device, [n, cout, ho, wo], sliced: sliced, &random)
            let norm = inputNorm ? try randomInputNorm(device, cin, &random) : nil
            return PreparedOp(run: {
                try device.backend.conv2dForward(input: input, weight: weight, bias: b, output: output.view, geometry: g, inputNorm: norm)
            }, results: { try device.read(output.whole) })
        }
    }

    public static func conv2dBackwardData(n: Int, cin: Int, h: Int, w: Int, cout: Int, geometry g: Conv2dGeometry,
                                          accumulate: Bool = false, sliced: Bool = false) -> OpCase {
        let ho = g.outputHeight(h), wo = g.outputWidth(w)
        let k = cin * g.kernelH * g.kernelW
        return OpCase(op: "conv2d_backward_data", family: "conv",
                      shape: "\(describe([n, cin, h, w])) \(g) -> \(cout)\(accumulate ? " acc" : "")\(sliced ? " slice" : "")",
                      flops: 2.0 * Double(n * cout * ho * wo) * Double(k),
                      bytes: floatBytes * Double(n * cin * h * w + cout * k + n * cout * ho * wo)) { device, random in
            let gradOutput = try randomNCHW(device, [n, cout, ho, wo], sliced: sliced, &random).view
            let weight = try Self.random(device, [cout, cin, g.kernelH, g.kernelW], &random, -0.5, 0.5)
            let gradInput = try randomNCHW(device, [n, cin, h, w], sliced: sliced, &random)
            return PreparedOp(run: {
                try device.backend.conv2dBackwardData(gradOutput: gradOutput, weight: weight, gradInput: gradInput.view,
                                                      geometry: g, accumulate: accumulate)
            }, results: { try device.read(gradInput.whole) })
        }
    }

    public static func conv2dBackwardWeight(n: Int, cin: Int, h: Int, w: Int, cout: Int, geometry g: Conv2dGeometry,
                                            bias: Bool = false, sliced: Bool = false, inputNorm: Bool = false) -> OpCase {
        let ho = g.outputHeight(h), wo = g.outputWidth(w)
        let k = cin * g.kernelH * g.kernelW
        return OpCase(op: "conv2d_backward_weight", family: "conv",
                      shape: "\(describe([n, cin, h, w])) \(g) -> \(cout)\(bias ? " +bias" : "")\(sliced ? " slice" : "")"
                        + (inputNorm ? " +bn-relu" : ""),
                      flops: 2.0 * Double(n * cout * ho * wo) * Double(k),
                      bytes: floatBytes * Double(n * cin * h * w + cout * k + n * cout * ho * wo)) { device, random in
            let input = try randomNCHW(device, [n, cin, h, w], sliced: sliced, &random).view
            let gradOutput = try randomNCHW(device, [n, cout, ho, wo], sliced: sliced, &random).view
            let gradWeight = try Self.random(device, [cout, cin, g.kernelH, g.kernelW], &random)
            let gradBias = bias ? try Self.random(device, [cout], &random) : nil
            let norm = inputNorm ? try randomInputNorm(device, cin, &random) : nil
            return PreparedOp(run: {
                try device.backend.conv2dBackwardWeight(input: input, gradOutput: gradOutput, gradWeight: gradWeight,
                                                        gradBias: gradBias, geometry: g, inputNorm: norm)
            }, results: { try device.read(gradWeight) + (gradBias.map { try device.read($0) } ?? []) })
        }
    }

    // MARK: Pooling

    public static func maxPool2dForward(n: Int, c: Int, h: Int, w: Int, geometry g: Pool2dGeometry, sliced: Bool = false) -> OpCase {
        let ho = g.outputHeight(h), wo = g.outputWidth(w)
        return OpCase(op: "max_pool2d_forward", family: "pool", shape: "\(describe([n, c, h, w])) \(g)\(sliced ? " slice" : "")",
                      bytes: floatBytes * Double(n * c * (h * w + ho * wo))) { device, random in
            let input = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random).view
            let output = try randomNCHW(device, [n, c, ho, wo], sliced: sliced, &random)
            return PreparedOp(run: { try device.backend.maxPool2dForward(input: input, output: output.view, geometry: g) },
                              results: { try device.read(output.whole) })
        }
    }

    public static func maxPool2dBackward(n: Int, c: Int, h: Int, w: Int, geometry g: Pool2dGeometry,
                                         accumulate: Bool = false, sliced: Bool = false) -> OpCase {
        let ho = g.outputHeight(h), wo = g.outputWidth(w)
        return OpCase(op: "max_pool2d_backward", family: "pool",
                      shape: "\(describe([n, c, h, w])) \(g)\(accumulate ? " acc" : "")\(sliced ? " slice" : "")",
                      bytes: floatBytes * Double(n * c * (2 * h * w + ho * wo))) { device, random in
            let input = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random).view
            let gradOutput = try Self.random(device, [n, c, ho, wo], &random)
            let gradInput = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random)
            return PreparedOp(run: {
                try device.backend.maxPool2dBackward(input: input, gradOutput: gradOutput, gradInput: gradInput.view,
                                                     geometry: g, accumulate: accumulate)
            }, results: { try device.read(gradInput.whole) })
        }
    }

    public static func avgPool2dForward(n: Int, c: Int, h: Int, w: Int, geometry g: Pool2dGeometry, sliced: Bool = false) -> OpCase {
        let ho = g.outputHeight(h), wo = g.outputWidth(w)
        return OpCase(op: "avg_pool2d_forward", family: "pool", shape: "\(describe([n, c, h, w])) \(g)\(sliced ? " slice" : "")",
                      bytes: floatBytes * Double(n * c * (h * w + ho * wo))) { device, random in
            let input = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random).view
            let output = try randomNCHW(device, [n, c, ho, wo], sliced: sliced, &random)
            return PreparedOp(run: { try device.backend.avgPool2dForward(input: input, output: output.view, geometry: g) },
                              results: { try device.read(output.whole) })
        }
    }

    public static func avgPool2dBackward(n: Int, c: Int, h: Int, w: Int, geometry g: Pool2dGeometry,
                                         accumulate: Bool = false, sliced: Bool = false) -> OpCase {
        let ho = g.outputHeight(h), wo = g.outputWidth(w)
        return OpCase(op: "avg_pool2d_backward", family: "pool",
                      shape: "\(describe([n, c, h, w])) \(g)\(accumulate ? " acc" : "")\(sliced ? " slice" : "")",
                      bytes: floatBytes * Double(n * c * (h * w + ho * wo))) { device, random in
            let gradOutput = try Self.random(device, [n, c, ho, wo], &random)
            let gradInput = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random)
            return PreparedOp(run: {
                try device.backend.avgPool2dBackward(gradOutput: gradOutput, gradInput: gradInput.view, geometry: g, accumulate: accumulate)
            }, results: { try device.read(gradInput.whole) })
        }
    }

    public static func globalAvgPoolForward(n: Int, c: Int, h: Int, w: Int, sliced: Bool = false) -> OpCase {
        OpCase(op: "global_avg_pool_forward", family: "pool", shape: "\(describe([n, c, h, w]))\(sliced ? " slice" : "")",
               bytes: floatBytes * Double(n * c * (h * w + 1))) { device, random in
            let input = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random).view
            let output = try Self.random(device, [n, c], &random)
            return PreparedOp(run: { try device.backend.globalAvgPoolForward(input: input, output: output) },
                              results: { try device.read(output) })
        }
    }

    public static func globalAvgPoolBackward(n: Int, c: Int, h: Int, w: Int, accumulate: Bool = false, sliced: Bool = false) -> OpCase {
        OpCase(op: "global_avg_pool_backward", family: "pool",
               shape: "\(describe([n, c, h, w]))\(accumulate ? " acc" : "")\(sliced ? " slice" : "")",
               bytes: floatBytes * Double(n * c * (h * w + 1))) { device, random in
            let gradOutput = try Self.random(device, [n, c], &random)
            let gradInput = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random)
            return PreparedOp(run: {
                try device.backend.globalAvgPoolBackward(gradOutput: gradOutput, gradInput: gradInput.view, accumulate: accumulate)
            }, results: { try device.read(gradInput.whole) })
        }
    }

    // MARK: Concatenation

    /// Concatenation's copy of `c` channels into a slice of a block tensor (and, with
    /// `accumulate`, its backward: split with accumulation).
    public static func channelCopy(n: Int, c: Int, h: Int, w: Int, accumulate: Bool = false) -> OpCase {
        OpCase(op: "channel_copy", family: "concat", shape: "\(describe([n, c, h, w])) into slice\(accumulate ? " acc" : "")",
               bytes: floatBytes * Double(2 * n * c * h * w)) { device, random in
            let source = try Self.random(device, [n, c, h, w], &random)
            let destination = try randomNCHW(device, [n, c, h, w], sliced: true, &random)
            return PreparedOp(run: { try device.backend.channelCopy(from: source, to: destination.view, accumulate: accumulate) },
                              results: { try device.read(destination.whole) })
        }
    }

    // MARK: Normalisation and activation

    public static func batchNormForwardTraining(n: Int, c: Int, h: Int, w: Int, sliced: Bool = false, relu: Bool = false) -> OpCase {
        OpCase(op: "batch_norm_forward_training", family: "norm",
               shape: "\(describe([n, c, h, w]))\(sliced ? " slice" : "")\(relu ? " +relu" : "")",
               bytes: floatBytes * Double(3 * n * c * h * w)) { device, random in
            let input = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random).view
            let output = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random)
            let weight = try Self.random(device, [c], &random, 0.5, 1.5)
            let bias = try Self.random(device, [c], &random)
            let runningMean = try Self.random(device, [c], &random)
            let runningVar = try Self.random(device, [c], &random, 0.5, 2)
            let saveMean = try device.zeros([c]), saveInvStd = try device.zeros([c])
            return PreparedOp(run: {
                try device.backend.batchNormForwardTraining(input: input, output: output.view, weight: weight, bias: bias,
                                                            runningMean: runningMean, runningVar: runningVar, saveMean: saveMean,
                                                            saveInvStd: saveInvStd, momentum: 0.1, epsilon: 1e-5, relu: relu)
            }, results: {
                try device.read(output.whole) + device.read(saveMean) + device.read(saveInvStd)
                    + device.read(runningMean) + device.read(runningVar)
            })
        }
    }

    public static func batchNormStatistics(n: Int, c: Int, h: Int, w: Int, sliced: Bool = false) -> OpCase {
        OpCase(op: "batch_norm_statistics", family: "norm", shape: "\(describe([n, c, h, w]))\(sliced ? " slice" : "")",
               bytes: floatBytes * Double(2 * n * c * h * w)) { device, random in
            let input = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random).view
            let mean = try device.zeros([c]), invStd = try device.zeros([c]), variance = try device.zeros([c])
            return PreparedOp(run: {
                try device.backend.batchNormStatistics(input: input, mean: mean, invStd: invStd, unbiasedVariance: variance, epsilon: 1e-5)
            }, results: { try device.read(mean) + device.read(invStd) + device.read(variance) })
        }
    }

    /// Batch norm with given (saved) statistics: what DenseNet's backward pass recomputes.
    public static func batchNormApply(n: Int, c: Int, h: Int, w: Int, sliced: Bool = false, relu: Bool = false) -> OpCase {
        OpCase(op: "batch_norm_apply", family: "norm",
               shape: "\(describe([n, c, h, w]))\(sliced ? " slice" : "")\(relu ? " +relu" : "")",
               bytes: floatBytes * Double(2 * n * c * h * w)) { device, random in
            let input = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random).view
            let output = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random)
            let mean = try Self.random(device, [c], &random), invStd = try Self.random(device, [c], &random, 0.5, 2)
            let weight = try Self.random(device, [c], &random, 0.5, 1.5), bias = try Self.random(device, [c], &random)
            return PreparedOp(run: {
                try device.backend.batchNormApply(input: input, output: output.view, mean: mean, invStd: invStd,
                                                  weight: weight, bias: bias, relu: relu)
            }, results: { try device.read(output.whole) })
        }
    }

    public static func batchNormForwardInference(n: Int, c: Int, h: Int, w: Int, sliced: Bool = false, relu: Bool = false) -> OpCase {
        OpCase(op: "batch_norm_forward_inference", family: "norm",
               shape: "\(describe([n, c, h, w]))\(sliced ? " slice" : "")\(relu ? " +relu" : "")",
               bytes: floatBytes * Double(2 * n * c * h * w)) { device, random in
            let input = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random).view
            let output = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random)
            let weight = try Self.random(device, [c], &random, 0.5, 1.5)
            let bias = try Self.random(device, [c], &random)
            let runningMean = try Self.random(device, [c], &random)
            let runningVar = try Self.random(device, [c], &random, 0.5, 2)
            return PreparedOp(run: {
                try device.backend.batchNormForwardInference(input: input, output: output.view, weight: weight, bias: bias,
                                                             runningMean: runningMean, runningVar: runningVar, epsilon: 1e-5, relu: relu)
            }, results: { try device.read(output.whole) })
        }
    }

    /// With `relu`, the backward of batch norm fused with the ReLU after it: the gradient is
    /// masked by a ReLU output that is 0 about half the time, or, with `maskFromInput`, where the
    /// batch norm of the input (with a random bias) is positive.
    public static func batchNormBackward(n: Int, c: Int, h: Int, w: Int, accumulate: Bool = false, sliced: Bool = false,
                                         relu: Bool = false, maskFromInput: Bool = false) -> OpCase {
        OpCase(op: "batch_norm_backward", family: "norm",
               shape: "\(describe([n, c, h, w]))\(accumulate ? " acc" : "")\(sliced ? " slice" : "")\(relu ? " +relu" : "")"
                + (relu && maskFromInput ? " (mask from input)" : ""),
               bytes: floatBytes * Double(5 * n * c * h * w)) { device, random in
            let count = n * h * w
            let values = random.uniforms(n * c * h * w)
            // The saved statistics of these inputs, computed here so every device gets the same.
            var mean = [Float](repeating: 0, count: c), invStd = [Float](repeating: 0, count: c)
            for ch in 0..<c {
                var sum = 0.0, squares = 0.0
                for s in 0..<n { for i in 0..<h * w { sum += Double(values[(s * c + ch) * h * w + i]) } }
                let m = sum / Double(count)
                for s in 0..<n { for i in 0..<h * w { let d = Double(values[(s * c + ch) * h * w + i]) - m; squares += d * d } }
                mean[ch] = Float(m)
                invStd[ch] = Float(1 / (squares / Double(count) + 1e-5).squareRoot())
            }
            let inputWhole = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random)
            let input = inputWhole.view
            try device.backend.channelCopy(from: try device.tensor(values, shape: [n, c, h, w]), to: input, accumulate: false)
            let gradOutput = try Self.random(device, [n, c, h, w], &random)
            let gradInput = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random)
            let weight = try Self.random(device, [c], &random, 0.5, 1.5)
            let saveMean = try device.tensor(mean, shape: [c]), saveInvStd = try device.tensor(invStd, shape: [c])
            let gradWeight = try Self.random(device, [c], &random), gradBias = try Self.random(device, [c], &random)
            var mask: ReLUMask?
            if relu && maskFromInput {
                mask = .input(bias: try Self.random(device, [c], &random, -0.5, 0.5))
            } else if relu {
                mask = .output(try device.tensor(random.uniforms(n * c * h * w).map { max($0, 0) }, shape: [n, c, h, w]))
            }
            return PreparedOp(run: {
                try device.backend.batchNormBackward(input: input, gradOutput: gradOutput, gradInput: gradInput.view, weight: weight,
                                                     saveMean: saveMean, saveInvStd: saveInvStd, gradWeight: gradWeight,
                                                     gradBias: gradBias, relu: mask, accumulate: accumulate)
            }, results: { try device.read(gradInput.whole) + device.read(gradWeight) + device.read(gradBias) })
        }
    }

    public static func reluForward(n: Int, c: Int, h: Int, w: Int, sliced: Bool = false) -> OpCase {
        OpCase(op: "relu_forward", family: "elementwise", shape: "\(describe([n, c, h, w]))\(sliced ? " slice" : "")",
               bytes: floatBytes * Double(2 * n * c * h * w)) { device, random in
            let input = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random).view
            let output = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random)
            return PreparedOp(run: { try device.backend.reluForward(input: input, output: output.view) },
                              results: { try device.read(output.whole) })
        }
    }

    public static func reluBackward(n: Int, c: Int, h: Int, w: Int, accumulate: Bool = false, sliced: Bool = false) -> OpCase {
        OpCase(op: "relu_backward", family: "elementwise",
               shape: "\(describe([n, c, h, w]))\(accumulate ? " acc" : "")\(sliced ? " slice" : "")",
               bytes: floatBytes * Double(3 * n * c * h * w)) { device, random in
            let output = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random).view
            let gradOutput = try Self.random(device, [n, c, h, w], &random)
            let gradInput = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random)
            return PreparedOp(run: {
                try device.backend.reluBackward(output: output, gradOutput: gradOutput, gradInput: gradInput.view, accumulate: accumulate)
            }, results: { try device.read(gradInput.whole) })
        }
    }

    public static func dropoutForward(n: Int, c: Int, h: Int, w: Int, probability: Float = 0.2, sliced: Bool = false) -> OpCase {
        OpCase(op: "dropout_forward", family: "elementwise", shape: "\(describe([n, c, h, w])) p=\(probability)\(sliced ? " slice" : "")",
               bytes: floatBytes * Double(2 * n * c * h * w)) { device, random in
            let input = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random).view
            let output = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random)
            return PreparedOp(run: { try device.backend.dropoutForward(input: input, output: output.view, probability: probability, seed: 77) },
                              results: { try device.read(output.whole) })
        }
    }

    public static func dropoutBackward(n: Int, c: Int, h: Int, w: Int, probability: Float = 0.2, accumulate: Bool = false,
                                       sliced: Bool = false) -> OpCase {
        OpCase(op: "dropout_backward", family: "elementwise",
               shape: "\(describe([n, c, h, w])) p=\(probability)\(accumulate ? " acc" : "")\(sliced ? " slice" : "")",
               bytes: floatBytes * Double(3 * n * c * h * w)) { device, random in
            let gradOutput = try Self.random(device, [n, c, h, w], &random)
            let gradInput = try randomNCHW(device, [n, c, h, w], sliced: sliced, &random)
            return PreparedOp(run: {
                try device.backend.dropoutBackward(gradOutput: gradOutput, gradInput: gradInput.view, probability: probability,
                                                   seed: 77, accumulate: accumulate)
            }, results: { try device.read(gradInput.whole) })
        }
    }

    public static func add(count: Int) -> OpCase {
        OpCase(op: "add", family: "elementwise", shape: "\(count)", bytes: floatBytes * Double(3 * count)) { device, random in
            let a = try Self.random(device, [count], &random), b = try Self.random(device, [count], &random)
            let output = try Self.random(device, [count], &random)
            return PreparedOp(run: { try device.backend.add(a, b, output: output) }, results: { try device.read(output) })
        }
    }

    public static func axpy(count: Int) -> OpCase {
        OpCase(op: "axpy", family: "elementwise", shape: "\(count)", flops: 2.0 * Double(count),
               bytes: floatBytes * Double(3 * count)) { device, random in
            let x = try Self.random(device, [count], &random), y = try Self.random(device, [count], &random)
            return PreparedOp(run: { try device.backend.axpy(alpha: 0.75, x: x, y: y) }, results: { try device.read(y) })
        }
    }

    public static func fill(count: Int) -> OpCase {
        OpCase(op: "fill", family: "elementwise", shape: "\(count)", bytes: floatBytes * Double(count)) { device, random in
            let t = try Self.random(device, [count], &random)
            return PreparedOp(run: { try device.backend.fill(t, value: 0.25) }, results: { try device.read(t) })
        }
    }

    // MARK: Linear, loss, GEMM

    public static func linearForward(n: Int, inFeatures: Int, outFeatures: Int, bias: Bool = true) -> OpCase {
        OpCase(op: "linear_forward", family: "linear", shape: "\(n)x\(inFeatures) -> \(outFeatures)",
               flops: 2.0 * Double(n * inFeatures * outFeatures),
               bytes: floatBytes * Double(n * inFeatures + inFeatures * outFeatures + n * outFeatures)) { device, random in
            let input = try Self.random(device, [n, inFeatures], &random)
            let weight = try Self.random(device, [outFeatures, inFeatures], &random)
            let b = bias ? try Self.random(device, [outFeatures], &random) : nil
            let output = try Self.random(device, [n, outFeatures], &random)
            return PreparedOp(run: { try device.backend.linearForward(input: input, weight: weight, bias: b, output: output) },
                              results: { try device.read(output) })
        }
    }

    public static func linearBackwardData(n: Int, inFeatures: Int, outFeatures: Int, accumulate: Bool = false) -> OpCase {
        OpCase(op: "linear_backward_data", family: "linear", shape: "\(n)x\(inFeatures) -> \(outFeatures)\(accumulate ? " acc" : "")",
               flops: 2.0 * Double(n * inFeatures * outFeatures),
               bytes: floatBytes * Double(n * inFeatures + inFeatures * outFeatures + n * outFeatures)) { device, random in
            let gradOutput = try Self.random(device, [n, outFeatures], &random)
            let weight = try Self.random(device, [outFeatures, inFeatures], &random)
            let gradInput = try Self.random(device, [n, inFeatures], &random)
            return PreparedOp(run: {
                try device.backend.linearBackwardData(gradOutput: gradOutput, weight: weight, gradInput: gradInput, accumulate: accumulate)
            }, results: { try device.read(gradInput) })
        }
    }

    public static func linearBackwardWeight(n: Int, inFeatures: Int, outFeatures: Int, bias: Bool = true) -> OpCase {
        OpCase(op: "linear_backward_weight", family: "linear", shape: "\(n)x\(inFeatures) -> \(outFeatures)",
               flops: 2.0 * Double(n * inFeatures * outFeatures),
               bytes: floatBytes * Double(n * inFeatures + inFeatures * outFeatures + n * outFeatures)) { device, random in
            let input = try Self.random(device, [n, inFeatures], &random)
            let gradOutput = try Self.random(device, [n, outFeatures], &random)
            let gradWeight = try Self.random(device, [outFeatures, inFeatures], &random)
            let gradBias = bias ? try Self.random(device, [outFeatures], &random) : nil
            return PreparedOp(run: {
                try device.backend.linearBackwardWeight(input: input, gradOutput: gradOutput, gradWeight: gradWeight, gradBias: gradBias)
            }, results: { try device.read(gradWeight) + (gradBias.map { try device.read($0) } ?? []) })
        }
    }

    static func labels(_ n: Int, classes: Int, _ random: inout SeededRandom) -> [Float] {
        (0..<n).map { _ in Float(random.next() % UInt64(classes)) }
    }

    public static func softmaxCrossEntropyForward(n: Int, classes: Int, labelSmoothing: Float = 0) -> OpCase {
        OpCase(op: "softmax_cross_entropy_forward", family: "loss", shape: "\(n)x\(classes)\(labelSmoothing > 0 ? " smoothing \(labelSmoothing)" : "")",
               bytes: floatBytes * Double(2 * n * classes + 2 * n)) { device, random in
            let logits = try Self.random(device, [n, classes], &random, -4, 4)
            let labels = try device.tensor(Self.labels(n, classes: classes, &random), shape: [n])
            let probabilities = try device.zeros([n, classes]), losses = try device.zeros([n])
            return PreparedOp(run: {
                try device.backend.softmaxCrossEntropyForward(logits: logits, labels: labels, probabilities: probabilities, losses: losses,
                                                              labelSmoothing: labelSmoothing)
            }, results: { try device.read(probabilities) + device.read(losses) })
        }
    }

    public static func softmaxCrossEntropyBackward(n: Int, classes: Int, labelSmoothing: Float = 0) -> OpCase {
        OpCase(op: "softmax_cross_entropy_backward", family: "loss", shape: "\(n)x\(classes)\(labelSmoothing > 0 ? " smoothing \(labelSmoothing)" : "")",
               bytes: floatBytes * Double(2 * n * classes + n)) { device, random in
            let probabilities = try Self.random(device, [n, classes], &random, 0, 1)
            let labels = try device.tensor(Self.labels(n, classes: classes, &random), shape: [n])
            let gradLogits = try Self.random(device, [n, classes], &random)
            return PreparedOp(run: {
                try device.backend.softmaxCrossEntropyBackward(probabilities: probabilities, labels: labels, gradLogits: gradLogits,
                                                               scale: 1 / Float(n), labelSmoothing: labelSmoothing)
            }, results: { try device.read(gradLogits) })
        }
    }

    public static func sgemm(m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false) -> OpCase {
        OpCase(op: "sgemm", family: "gemm", shape: "\(m)x\(n)x\(k)\(transposeA ? " At" : "")\(transposeB ? " Bt" : "")",
               flops: 2.0 * Double(m) * Double(n) * Double(k), bytes: floatBytes * Double(m * k + k * n + m * n)) { device, random in
            let a = try Self.random(device, transposeA ? [k, m] : [m, k], &random)
            let b = try Self.random(device, transposeB ? [n, k] : [k, n], &random)
            let c = try Self.random(device, [m, n], &random)
            return PreparedOp(run: {
                try device.backend.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1,
                                         a: a, lda: transposeA ? m : k, b: b, ldb: transposeB ? k : n, beta: 0.5, c: c, ldc: n)
            }, results: { try device.read(c) })
        }
    }

    // MARK: Optimizers

    public static func sgdUpdate(count: Int, nesterov: Bool = true) -> OpCase {
        OpCase(op: "sgd_update", family: "optim", shape: "\(count) params\(nesterov ? " nesterov" : "")",
               bytes: floatBytes * Double(5 * count)) { device, random in
            let parameter = try Self.random(device, [count], &random), gradient = try Self.random(device, [count], &random)
            let buffer = try Self.random(device, [count], &random)
            let hyper = SGDParameters(learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4, nesterov: nesterov)
            return PreparedOp(run: {
                try device.backend.sgdUpdate(parameter: parameter, gradient: gradient, momentumBuffer: buffer, hyper: hyper)
            }, results: { try device.read(parameter) + device.read(buffer) })
        }
    }

    public static func adamUpdate(count: Int) -> OpCase {
        OpCase(op: "adam_update", family: "optim", shape: "\(count) params", bytes: floatBytes * Double(7 * count)) { device, random in
            let parameter = try Self.random(device, [count], &random), gradient = try Self.random(device, [count], &random)
            let m = try Self.random(device, [count], &random, -0.1, 0.1), v = try Self.random(device, [count], &random, 0, 0.1)
            let hyper = AdamParameters(learningRate: 1e-3, weightDecay: 1e-4, step: 3)
            return PreparedOp(run: {
                try device.backend.adamUpdate(parameter: parameter, gradient: gradient, firstMoment: m, secondMoment: v, hyper: hyper)
            }, results: { try device.read(parameter) + device.read(m) + device.read(v) })
        }
    }
}
