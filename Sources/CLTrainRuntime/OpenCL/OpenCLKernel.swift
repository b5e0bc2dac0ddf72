import COpenCL

/// One argument of a kernel launch. A tensor expands to two arguments: its buffer and its
/// element offset (every kernel takes `__global float* x, int x_off` pairs).
public enum KernelArgument {
    case tensor(Tensor)
    case buffer(RawBuffer)
    case int(Int)
    case float(Float)
    /// Local memory of this many floats.
    case localFloats(Int)
}

/// A kernel object, released in `deinit`; it keeps its program alive.
public final class OpenCLKernel: @unchecked Sendable {
    public let handle: cl_kernel
    public let name: String
    let program: OpenCLProgram
    /// The most work-items per group the device runs this kernel with (its registers and local
    /// memory decide), and the group-size multiple it prefers (the SIMD width: 32 on NVIDIA, 64 on
    /// AMD); read once, when the kernel is created.
    public let maxGroupSize: Int
    public let preferredGroupMultiple: Int

    /// Takes ownership of `handle` (released in `deinit`, also when this throws).
    init(handle: cl_kernel, name: String, program: OpenCLProgram) throws {
        self.handle = handle
        self.name = name
        self.program = program
        var device: cl_device_id?
        var info = (group: 0, multiple: 0, status: cl_int(CL_SUCCESS))
        info.status = clGetProgramInfo(program.handle, cl_program_info(CL_PROGRAM_DEVICES), MemoryLayout<cl_device_id?>.size, &device, nil)
        if info.status == CL_SUCCESS {
            info.status = clGetKernelWorkGroupInfo(handle, device, cl_kernel_work_group_info(CL_KERNEL_WORK_GROUP_SIZE),
                                                   MemoryLayout<Int>.size, &info.group, nil)
        }
        if info.status == CL_SUCCESS {
            info.status = clGetKernelWorkGroupInfo(handle, device, cl_kernel_work_group_info(CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE),
                                                   MemoryLayout<Int>.size, &info.multiple, nil)
        }
        maxGroupSize = info.group
        preferredGroupMultiple = max(info.multiple, 1)
        try OpenCLError.check(info.status, "clGetKernelWorkGroupInfo(\(name))")
    }

    deinit { clReleaseKernel(handle) }

    func setArguments(_ arguments: [KernelArgument]) throws {
        var index: cl_uint = 0
        func set(_ size: Int, _ pointer: UnsafeRawPointer) throws {
            try OpenCLError.check(clSetKernelArg(handle, index, size, pointer), "clSetKernelArg(\(name), \(index))")
            index += 1
        }
        func set(_ value: cl_mem?) throws {
            var copy = value
            try set(MemoryLayout<cl_mem?>.size, &copy)
        }
        func set(_ value: cl_int) throws {
            var copy = value
            try set(MemoryLayout<cl_int>.size, &copy)
        }
        func set(_ value: cl_float) throws {
            var copy = value
            try set(MemoryLayout<cl_float>.size, &copy)
        }
        for argument in arguments {
            switch argument {
            case .tensor(let t):
                try set(OpaquePointer(t.storage.buffer.handle) as cl_mem?)
                try set(cl_int(checkedInt: t.offset))
            case .buffer(let b):
                try set(OpaquePointer(b.handle) as cl_mem?)
            case .int(let v):
                try set(cl_int(checkedInt: v))
            case .float(let v):
                try set(cl_float(v))
            case .localFloats(let count):
                try OpenCLError.check(clSetKernelArg(handle, index, count * MemoryLayout<Float>.size, nil), "clSetKernelArg(\(name), \(index))")
                index += 1
            }
        }
    }
}

extension cl_int {
    /// Kernels index with 32-bit ints; larger tensors are a programmer error here.
    init(checkedInt value: Int) {
        precondition(value >= Int(Int32.min) && value <= Int(Int32.max), "value \(value) does not fit a kernel's int")
        self.init(value)
    }
}
