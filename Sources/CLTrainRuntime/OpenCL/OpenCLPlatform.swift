import COpenCL
import Foundation

/// An OpenCL device found on the machine, with what `cltrain devices` shows.
public struct OpenCLDeviceEntry: @unchecked Sendable {
    /// Position in the flat list of all devices of all platforms: the N of `--device opencl:N`.
    public let index: Int
    public let platformName: String
    public let info: DeviceInfo
    let id: cl_device_id
}

/// Enumerates OpenCL platforms and devices.
public enum OpenCLPlatforms {
    /// Every device of every platform, GPUs and CPUs alike, in platform order. An empty list when
    /// no ICD is installed (not an error).
    public static func devices() throws -> [OpenCLDeviceEntry] {
        var platformCount: cl_uint = 0
        let status = clGetPlatformIDs(0, nil, &platformCount)
        if status == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || platformCount == 0 { return [] }
        try OpenCLError.check(status, "clGetPlatformIDs")
        var platforms = [cl_platform_id?](repeating: nil, count: Int(platformCount))
        try OpenCLError.check(clGetPlatformIDs(platformCount, &platforms, nil), "clGetPlatformIDs")

        var entries: [OpenCLDeviceEntry] = []
        for platform in platforms {
            let platformName = try platformString(platform, cl_platform_info(CL_PLATFORM_NAME))
            var deviceCount: cl_uint = 0
            let found = clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &deviceCount)
            if found == CL_DEVICE_NOT_FOUND || deviceCount == 0 { continue }
            try OpenCLError.check(found, "clGetDeviceIDs")
            var ids = [cl_device_id?](repeating: nil, count: Int(deviceCount))
            try OpenCLError.check(clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), deviceCount, &ids, nil), "clGetDeviceIDs")
            for case let id? in ids {
                entries.append(OpenCLDeviceEntry(index: entries.count, platformName: platformName, info: try deviceInfo(id), id: id))
            }
        }
        return entries
    }

    static func deviceInfo(_ id: cl_device_id) throws -> DeviceInfo {
        let type: cl_device_type = try deviceValue(id, CL_DEVICE_TYPE)
        let kind: DeviceInfo.Kind
        if type & cl_device_type(CL_DEVICE_TYPE_GPU) != 0 { kind = .gpu }
        else if type & cl_device_type(CL_DEVICE_TYPE_CPU) != 0 { kind = .cpu }
        else if type & cl_device_type(CL_DEVICE_TYPE_ACCELERATOR) != 0 { kind = .accelerator }
        else { kind = .other }
        let units: cl_uint = try deviceValue(id, CL_DEVICE_MAX_COMPUTE_UNITS)
        let memory: cl_ulong = try deviceValue(id, CL_DEVICE_GLOBAL_MEM_SIZE)
        let maxAlloc: cl_ulong = try deviceValue(id, CL_DEVICE_MAX_MEM_ALLOC_SIZE)
        let group: Int = try deviceValue(id, CL_DEVICE_MAX_WORK_GROUP_SIZE)
        return DeviceInfo(
            backend: "opencl",
            name: try deviceString(id, CL_DEVICE_NAME).trimmingCharacters(in: .whitespaces),
            vendor: try deviceString(id, CL_DEVICE_VENDOR).trimmingCharacters(in: .whitespaces),
            driver: try deviceString(id, CL_DRIVER_VERSION),
            kind: kind, computeUnits: Int(units), globalMemoryBytes: Int(memory),
            maxAllocationBytes: Int(maxAlloc), maxWorkGroupSize: group)
    }

    static func deviceValue<T>(_ id: cl_device_id, _ param: Int32) throws -> T {
        let pointer = UnsafeMutablePointer<T>.allocate(capacity: 1)
        defer { pointer.deallocate() }
        try OpenCLError.check(clGetDeviceInfo(id, cl_device_info(param), MemoryLayout<T>.size, pointer, nil), "clGetDeviceInfo")
        return pointer.pointee
    }

    static func deviceString(_ id: cl_device_id, _ param: Int32) throws -> String {
        var size = 0
        try OpenCLError.check(clGetDeviceInfo(id, cl_device_info(param), 0, nil, &size), "clGetDeviceInfo")
        var bytes = [CChar](repeating: 0, count: size + 1)
        try OpenCLError.check(clGetDeviceInfo(id, cl_device_info(param), size, &bytes, nil), "clGetDeviceInfo")
        return String(cString: bytes)
    }

    static func platformString(_ id: cl_platform_id?, _ param: cl_platform_info) throws -> String {
        var size = 0
        try OpenCLError.check(clGetPlatformInfo(id, param, 0, nil, &size), "clGetPlatformInfo")
        var bytes = [CChar](repeating: 0, count: size + 1)
        try OpenCLError.check(clGetPlatformInfo(id, param, size, &bytes, nil), "clGetPlatformInfo")
        return String(cString: bytes)
    }
}
