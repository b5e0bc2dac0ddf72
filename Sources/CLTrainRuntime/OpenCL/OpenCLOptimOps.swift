import Foundation
import CLTrainKernels

// Launch code of Kernels/optim.cl.

extension OpenCLBackend {
    public func sgdUpdate(parameter: Tensor, gradient: Tensor, momentumBuffer: Tensor, hyper: SGDParameters) throws {
        precondition(parameter.shape == gradient.shape && parameter.shape == momentumBuffer.shape, "SGD tensors differ in shape")
        let s = Self.samples(parameter)
        try launchElements(.optim, "sgd_update", count: s.n * s.size,
                           Self.args(Self.strided(parameter), Self.strided(gradient), Self.strided(momentumBuffer), [.int(s.n), .int(s.size), .float(hyper.learningRate), .float(hyper.momentum),
                              .float(hyper.weightDecay), .int(hyper.nesterov ? 1 : 0)]))
    }

    public func adamUpdate(parameter: Tensor, gradient: Tensor, firstMoment: Tensor, secondMoment: Tensor, hyper: AdamParameters) throws {
        precondition(parameter.shape == gradient.shape && parameter.shape == firstMoment.shape
                     && parameter.shape == secondMoment.shape, "Adam tensors differ in shape")
        precondition(hyper.step >= 1, "Adam steps count from 1")
        // Bias corrections in double precision on the host.
        let bias1 = Float(1 - pow(Double(hyper.beta1), Double(hyper.step)))
        let bias2 = Float(1 - pow(Double(hyper.beta2), Double(hyper.step)))
        let s = Self.samples(parameter)
        try launchElements(.optim, "adam_update", count: s.n * s.size,
                           Self.args(Self.strided(parameter), Self.strided(gradient), Self.strided(firstMoment), Self.strided(secondMoment), [.int(s.n), .int(s.size), .float(hyper.learningRate), .float(hyper.beta1), .float(hyper.beta2),
                              .float(hyper.epsilon), .float(hyper.weightDecay), .float(bias1), .float(bias2)]))
    }
}
