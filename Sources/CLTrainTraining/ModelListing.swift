import CLTrainNN
import CLTrainRuntime

/// `cltrain models`: every model of the catalogue with its parameter count for an input and class
/// count (each built once on the CPU to count them).
public enum ModelListing {
    public struct Row: Sendable {
        public let name: String
        public let parameters: Int
        public let summary: String
    }

    public static func rows(channels: Int, classes: Int) throws -> [Row] {
        let device = Device(backend: CPUBackend())
        return try ModelCatalog.entries.map { entry in
            let model = try entry.make(inputChannels: channels, classes: classes, device: device, seed: 0)
            return Row(name: entry.name, parameters: model.parameterCount, summary: entry.summary)
        }
    }
}
