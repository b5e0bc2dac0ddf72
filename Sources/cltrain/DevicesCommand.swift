import ArgumentParser
import CLTrainRuntime
import Foundation

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the devices cltrain can run on.")

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        try reportingErrors {
            let entries = try OpenCLPlatforms.devices()
            let cpu = CPUBackend().info
            let auto = DeviceChoice.auto(among: entries).description
            if json {
                struct Listing: Codable {
                    var cpu: DeviceInfo
                    var opencl: [OpenCLListing]
                    var auto: String
                }
                struct OpenCLListing: Codable {
                    var index: Int
                    var platform: String
                    var device: DeviceInfo
                }
                let listing = Listing(cpu: cpu, opencl: entries.map { OpenCLListing(index: $0.index, platform: $0.platformName, device: $0.info) }, auto: auto)
                try printJSON(listing)
                return
            }
            print("cpu        \(cpu.name) (\(cpu.computeUnits) threads, \(formatBytes(cpu.globalMemoryBytes)), \(cpu.driver))")
            if entries.isEmpty {
                print("opencl     no OpenCL platform found")
            }
            for entry in entries {
                let i = entry.info
                print("opencl:\(entry.index)   \(i.name) [\(i.kind.rawValue)]")
                print("           platform \(entry.platformName), vendor \(i.vendor), driver \(i.driver)")
                print("           \(i.computeUnits) compute units, \(formatBytes(i.globalMemoryBytes)) global memory, "
                      + "largest buffer \(formatBytes(i.maxAllocationBytes)), work-group size up to \(i.maxWorkGroupSize)")
            }
            print("auto       -> \(auto)")
        }
    }
}
