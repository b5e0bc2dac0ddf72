import COpenCL

/// One OpenCL context on one device and its in-order command queue (with profiling), released
/// together in `deinit`.
public final class OpenCLContext: @unchecked Sendable {
    public let device: cl_device_id
    public let context: cl_context
    public let queue: cl_command_queue

    public init(device: cl_device_id) throws {
        var status: cl_int = 0
        var deviceList: [cl_device_id?] = [device]
        guard let context = clCreateContext(nil, 1, &deviceList, nil, nil, &status), status == CL_SUCCESS else {
            throw OpenCLError("clCreateContext", status)
        }
        guard let queue = clCreateCommandQueue(context, device, cl_command_queue_properties(CL_QUEUE_PROFILING_ENABLE), &status),
              status == CL_SUCCESS
        else {
            clReleaseContext(context)
            throw OpenCLError("clCreateCommandQueue", status)
        }
        self.device = device
        self.context = context
        self.queue = queue
    }

    deinit {
        clFinish(queue)
        clReleaseCommandQueue(queue)
        clReleaseContext(context)
    }

    public func finish() throws {
        try OpenCLError.check(clFinish(queue), "clFinish")
    }
}
