import CLTrainRandom
import CLTrainRuntime

/// The sets of op cases that `bench kernels` times and checks, and that the tests compare.
public enum KernelSuites {
    /// Shapes from DenseNet-BC-100 (k = 12) and DRN-C-26 on 28x28x1 inputs at `batch` images.
    public static func benchmark(batch n: Int) -> [OpCase] {
        let c3 = Conv2dGeometry(kernel: 3, padding: 1)
        let c1 = Conv2dGeometry(kernel: 1)
        var cases: [OpCase] = []
        // DenseNet-BC-100: stem, a bottleneck layer in the middle of block 1 (its input a slice
        // of the block's storage, read through the layer's BN-ReLU), the 3x3 growth conv writing
        // its 12 channels into the block, a transition, and the layers of block 3.
        cases += [
            OpCatalog.conv2dForward(n: n, cin: 1, h: 28, w: 28, cout: 24, geometry: c3),
            OpCatalog.conv2dForward(n: n, cin: 120, h: 28, w: 28, cout: 48, geometry: c1, sliced: true, inputNorm: true),
            OpCatalog.conv2dBackwardData(n: n, cin: 120, h: 28, w: 28, cout: 48, geometry: c1, accumulate: true, sliced: true),
            OpCatalog.conv2dBackwardWeight(n: n, cin: 120, h: 28, w: 28, cout: 48, geometry: c1, sliced: true, inputNorm: true),
            OpCatalog.conv2dForward(n: n, cin: 48, h: 28, w: 28, cout: 12, geometry: c3, sliced: true, inputNorm: true),
            OpCatalog.conv2dBackwardData(n: n, cin: 48, h: 28, w: 28, cout: 12, geometry: c3),
            OpCatalog.conv2dBackwardWeight(n: n, cin: 48, h: 28, w: 28, cout: 12, geometry: c3, sliced: true, inputNorm: true),
            OpCatalog.conv2dForward(n: n, cin: 216, h: 28, w: 28, cout: 108, geometry: c1),
            OpCatalog.conv2dForward(n: n, cin: 48, h: 7, w: 7, cout: 12, geometry: c3, sliced: true),
            OpCatalog.conv2dBackwardWeight(n: n, cin: 48, h: 7, w: 7, cout: 12, geometry: c3),
            OpCatalog.batchNormForwardTraining(n: n, c: 120, h: 28, w: 28, sliced: true),
            OpCatalog.batchNormBackward(n: n, c: 120, h: 28, w: 28, accumulate: true, sliced: true),
            OpCatalog.batchNormForwardTraining(n: n, c: 120, h: 28, w: 28, sliced: true, relu: true),
            OpCatalog.batchNormBackward(n: n, c: 120, h: 28, w: 28, accumulate: true, sliced: true, relu: true),
            OpCatalog.batchNormBackward(n: n, c: 120, h: 28, w: 28, accumulate: true, sliced: true, relu: true, maskFromInput: true),
            OpCatalog.batchNormApply(n: n, c: 120, h: 28, w: 28, sliced: true, relu: true),
            OpCatalog.batchNormStatistics(n: n, c: 12, h: 28, w: 28, sliced: true),
            OpCatalog.batchNormForwardInference(n: n, c: 120, h: 28, w: 28),
            OpCatalog.reluForward(n: n, c: 120, h: 28, w: 28),
            OpCatalog.reluBackward(n: n, c: 120, h: 28, w: 28),
            OpCatalog.dropoutForward(n: n, c: 12, h: 28, w: 28, sliced: true),
            OpCatalog.dropoutBackward(n: n, c: 12, h: 28, w: 28),
            OpCatalog.channelCopy(n: n, c: 12, h: 28, w: 28),
            OpCatalog.channelCopy(n: n, c: 12, h: 28, w: 28, accumulate: true),
            OpCatalog.avgPool2dForward(n: n, c: 108, h: 28, w: 28, geometry: Pool2dGeometry(kernel: 2)),
            OpCatalog.avgPool2dBackward(n: n, c: 108, h: 28, w: 28, geometry: Pool2dGeometry(kernel: 2)),
            OpCatalog.globalAvgPoolForward(n: n, c: 342, h: 7, w: 7),
            OpCatalog.globalAvgPoolBackward(n: n, c: 342, h: 7, w: 7),
            OpCatalog.linearForward(n: n, inFeatures: 342, outFeatures: 10),
            OpCatalog.linearBackwardData(n: n, inFeatures: 342, outFeatures: 10),
            OpCatalog.linearBackwardWeight(n: n, inFeatures: 342, outFeatures: 10),
            OpCatalog.softmaxCrossEntropyForward(n: n, classes: 10),
            OpCatalog.softmaxCrossEntropyBackward(n: n, classes: 10),
            OpCatalog.softmaxCrossEntropyForward(n: n, classes: 10, labelSmoothing: 0.1),
            OpCatalog.softmaxCrossEntropyBackward(n: n, classes: 10, labelSmoothing: 0.1),
            OpCatalog.sgdUpdate(count: 768_730),
            OpCatalog.adamUpdate(count: 768_730),
        ]
        // DRN-C-26: the 7x7 stem, a stride-2 stage entry, the dilated stages (2 and 4), the
        // max pool of the ImageNet stems, and the optimizer over its 20.6M parameters.
        let d2 = Conv2dGeometry(kernel: 3, padding: 2, dilation: 2)
        let d4 = Conv2dGeometry(kernel: 3, padding: 4, dilation: 4)
        let s2 = Conv2dGeometry(kernel: 3, stride: 2, padding: 1)
        cases += [
            OpCatalog.conv2dForward(n: n, cin: 1, h: 28, w: 28, cout: 16, geometry: Conv2dGeometry(kernel: 7, padding: 3)),
            OpCatalog.conv2dBackwardWeight(n: n, cin: 1, h: 28, w: 28, cout: 16, geometry: Conv2dGeometry(kernel: 7, padding: 3)),
            OpCatalog.conv2dForward(n: n, cin: 32, h: 14, w: 14, cout: 64, geometry: s2),
            OpCatalog.conv2dBackwardData(n: n, cin: 32, h: 14, w: 14, cout: 64, geometry: s2),
            OpCatalog.conv2dForward(n: n, cin: 256, h: 4, w: 4, cout: 256, geometry: d2),
            OpCatalog.conv2dBackwardData(n: n, cin: 256, h: 4, w: 4, cout: 256, geometry: d2),
            OpCatalog.conv2dBackwardWeight(n: n, cin: 256, h: 4, w: 4, cout: 256, geometry: d2),
            OpCatalog.conv2dForward(n: n, cin: 512, h: 4, w: 4, cout: 512, geometry: d4),
            OpCatalog.conv2dBackwardData(n: n, cin: 512, h: 4, w: 4, cout: 512, geometry: d4),
            OpCatalog.conv2dBackwardWeight(n: n, cin: 512, h: 4, w: 4, cout: 512, geometry: d4),
            OpCatalog.conv2dForward(n: n, cin: 512, h: 4, w: 4, cout: 512, geometry: c3),
            OpCatalog.conv2dBackwardData(n: n, cin: 512, h: 4, w: 4, cout: 512, geometry: c3),
            OpCatalog.conv2dBackwardWeight(n: n, cin: 512, h: 4, w: 4, cout: 512, geometry: c3),
            OpCatalog.conv2dForward(n: n, cin: 512, h: 4, w: 4, cout: 10, geometry: c1, bias: true),
            OpCatalog.conv2dBackwardWeight(n: n, cin: 512, h: 4, w: 4, cout: 10, geometry: c1, bias: true),
            OpCatalog.maxPool2dForward(n: n, c: 64, h: 28, w: 28, geometry: Pool2dGeometry(kernel: 3, stride: 2, padding: 1)),
            OpCatalog.maxPool2dBackward(n: n, c: 64, h: 28, w: 28, geometry: Pool2dGeometry(kernel: 3, stride: 2, padding: 1)),
            OpCatalog.batchNormForwardTraining(n: n, c: 512, h: 4, w: 4),
            OpCatalog.batchNormBackward(n: n, c: 512, h: 4, w: 4),
            OpCatalog.add(count: n * 512 * 16),
            OpCatalog.axpy(count: n * 512 * 16),
            OpCatalog.fill(count: n * 512 * 16),
            OpCatalog.sgdUpdate(count: 20_617_146),
        ]
        return cases
    }

    /// Every op at small shapes drawn from `seed`, with the cases the kernels find hardest
    /// always present: batch 1, odd sizes, channel counts that are not multiples of 4, 1x1, 3x3
    /// and 7x7 kernels, stride 2, dilation 2 and 4 with padding equal to dilation, pooling with
    /// padding, channel slices, and accumulation.
    public static func randomised(seed: UInt64, rounds: Int = 2) -> [OpCase] {
        var random = SeededRandom(seed: seed)
        func pick(_ values: [Int]) -> Int { values[Int(random.next() % UInt64(values.count))] }
        var cases: [OpCase] = []
        let convGeometries: [Conv2dGeometry] = [
            Conv2dGeometry(kernel: 1),
            Conv2dGeometry(kernel: 1, stride: 2),
            Conv2dGeometry(kernel: 3, padding: 1),
            Conv2dGeometry(kernel: 3, stride: 2, padding: 1),
            Conv2dGeometry(kernel: 3, padding: 2, dilation: 2),
            Conv2dGeometry(kernel: 3, padding: 4, dilation: 4),
            Conv2dGeometry(kernel: 7, stride: 2, padding: 3),
            Conv2dGeometry(kernelH: 3, kernelW: 5, strideH: 1, strideW: 2, padH: 1, padW: 2, dilationH: 1, dilationW: 1),
        ]
        for round in 0..<rounds {
            for (index, g) in convGeometries.enumerated() {
                let n = round == 0 && index % 2 == 0 ? 1 : pick([2, 3])
                let cin = pick([1, 3, 5, 6]), cout = pick([2, 5, 7])
                let h = pick([5, 7, 9, 10]), w = pick([6, 7, 11])
                let sliced = (index + round) % 2 == 1
                let bias = index % 3 == 0
                let norm = (index + round) % 3 != 2
                cases.append(OpCatalog.conv2dForward(n: n, cin: cin, h: h, w: w, cout: cout, geometry: g, bias: bias, sliced: sliced,
                                                     inputNorm: norm))
                cases.append(OpCatalog.conv2dBackwardData(n: n, cin: cin, h: h, w: w, cout: cout, geometry: g,
                                                          accumulate: index % 2 == 0, sliced: sliced))
                cases.append(OpCatalog.conv2dBackwardWeight(n: n, cin: cin, h: h, w: w, cout: cout, geometry: g, bias: bias, sliced: sliced,
                                                            inputNorm: !norm))
            }
            let pools = [Pool2dGeometry(kernel: 2), Pool2dGeometry(kernel: 3, stride: 2, padding: 1), Pool2dGeometry(kernel: 3, stride: 1, padding: 1)]
            for (index, g) in pools.enumerated() {
                let n = pick([1, 2]), c = pick([1, 3, 6]), h = pick([6, 7, 9]), w = pick([5, 8, 11])
                let sliced = (index + round) % 2 == 0
                cases.append(OpCatalog.maxPool2dForward(n: n, c: c, h: h, w: w, geometry: g, sliced: sliced))
                cases.append(OpCatalog.maxPool2dBackward(n: n, c: c, h: h, w: w, geometry: g, accumulate: index == 1, sliced: sliced))
                cases.append(OpCatalog.avgPool2dForward(n: n, c: c, h: h, w: w, geometry: g, sliced: sliced))
                cases.append(OpCatalog.avgPool2dBackward(n: n, c: c, h: h, w: w, geometry: g, accumulate: index == 2, sliced: sliced))
            }
            let n = round == 0 ? 1 : pick([2, 3]), c = pick([3, 5, 7]), h = pick([1, 3, 5]), w = pick([2, 7])
            let sliced = round == 0
            cases += [
                OpCatalog.globalAvgPoolForward(n: n, c: c, h: h, w: w, sliced: sliced),
                OpCatalog.globalAvgPoolBackward(n: n, c: c, h: h, w: w, accumulate: round == 1, sliced: sliced),
                OpCatalog.channelCopy(n: n, c: c, h: h, w: w, accumulate: round == 1),
                OpCatalog.batchNormForwardTraining(n: n + 1, c: c, h: h, w: w, sliced: sliced),
                OpCatalog.batchNormForwardInference(n: n, c: c, h: h, w: w, sliced: sliced),
                OpCatalog.batchNormBackward(n: n + 1, c: c, h: h, w: w, accumulate: round == 1, sliced: sliced),
                OpCatalog.batchNormForwardTraining(n: n + 1, c: c, h: h, w: w, sliced: !sliced, relu: true),
                OpCatalog.batchNormApply(n: n, c: c, h: h, w: w, sliced: sliced, relu: round == 0),
                OpCatalog.batchNormStatistics(n: n + 1, c: c, h: h, w: w, sliced: sliced),
                OpCatalog.batchNormForwardInference(n: n, c: c, h: h, w: w, sliced: !sliced, relu: true),
                OpCatalog.batchNormBackward(n: n + 1, c: c, h: h, w: w, accumulate: round == 0, sliced: !sliced, relu: true),
                OpCatalog.batchNormBackward(n: n + 1, c: c, h: h, w: w, accumulate: round == 1, sliced: sliced, relu: true, maskFromInput: true),
                OpCatalog.reluForward(n: n, c: c, h: h, w: w, sliced: sliced),
                OpCatalog.reluBackward(n: n, c: c, h: h, w: w, accumulate: round == 0, sliced: sliced),
                OpCatalog.dropoutForward(n: n, c: c, h: h, w: w, probability: round == 0 ? 0.2 : 0.5, sliced: sliced),
                OpCatalog.dropoutBackward(n: n, c: c, h: h, w: w, accumulate: round == 1, sliced: sliced),
                OpCatalog.add(count: pick([1, 17, 1000])),
                OpCatalog.axpy(count: pick([1, 33, 999])),
                OpCatalog.fill(count: pick([3, 257])),
                OpCatalog.linearForward(n: n, inFeatures: pick([5, 17]), outFeatures: pick([3, 10]), bias: round == 0),
                OpCatalog.linearBackwardData(n: n, inFeatures: pick([5, 17]), outFeatures: pick([3, 10]), accumulate: round == 1),
                OpCatalog.linearBackwardWeight(n: n, inFeatures: pick([5, 17]), outFeatures: pick([3, 10]), bias: round == 1),
                OpCatalog.softmaxCrossEntropyForward(n: n, classes: pick([2, 10, 37])),
                OpCatalog.softmaxCrossEntropyBackward(n: n, classes: pick([2, 10, 37])),
                OpCatalog.sgemm(m: pick([1, 7, 33]), n: pick([5, 17]), k: pick([3, 64]), transposeA: round == 1, transposeB: round == 0),
                OpCatalog.sgdUpdate(count: pick([7, 1001]), nesterov: round == 0),
                OpCatalog.adamUpdate(count: pick([5, 513])),
            ]
        }
        return cases
    }
}
