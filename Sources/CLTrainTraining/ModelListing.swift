import CLTrainNN
import CLTrainRuntime

/// `cltrain models`: every model of the catalogue with its parameter count for an input and class
/// count (each built once on the CPU to count them) and the smallest images it takes.
public enum ModelListing {
    public struct Row: Sendable {
        public let name: String
        public let parameters: Int
        /// The smallest height and width it takes.
        public let minimumInputSize: Int
        public let summary: String
    }

    /// The rows of `names` (any name `ModelCatalog.entry(named:)` knows), or of the whole catalogue.
    public static func rows(_ names: [String] = [], channels: Int, classes: Int) throws -> [Row] {
        let device = Device(backend: CPUBackend())
        let entries = try names.isEmpty ? ModelCatalog.entries : names.map { name in
            guard let entry = ModelCatalog.entry(named: name) else {
                throw UsageError("unknown model '\(name)': see `cltrain models` for the list")
            }
            return entry
        }
        return try entries.map { entry in
            let model = try entry.make(inputChannels: channels, classes: classes, device: device, seed: 0)
            return Row(name: entry.name, parameters: model.parameterCount, minimumInputSize: entry.minimumInputSize, summary: entry.summary)
        }
    }
}

extension ModelListing {
    /// The element count of each of a model's parameters, in `state_dict` order (backward finishes
    /// them in the reverse order): what a gradient allreduce of the model sends.
    public static func parameterSizes(_ name: String, channels: Int, classes: Int) throws -> [Int] {
        guard let entry = ModelCatalog.entry(named: name) else {
            throw UsageError("unknown model '\(name)': see `cltrain models` for the list")
        }
        let model = try entry.make(inputChannels: channels, classes: classes, device: Device(backend: CPUBackend()), seed: 0)
        return model.parameters.map(\.count)
    }
}
