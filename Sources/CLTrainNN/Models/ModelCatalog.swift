import CLTrainRuntime

/// Every model cltrain builds, by the name the CLI takes.
public enum ModelCatalog {
    public struct Entry: Sendable {
        public let name: String
        public let summary: String
        /// Whether the model takes a dropout rate (`make(..., dropout:)`): DenseNets, as torchvision's `drop_rate`.
        public let takesDropout: Bool
        /// The smallest height and width the model takes: below it a stride or pooling would leave
        /// no positions (densenet-121 needs 29: its stem and three transitions halve 29 to 1).
        public let minimumInputSize: Int
        let make: @Sendable (_ inputChannels: Int, _ classes: Int, _ device: Device, _ seed: UInt64, _ dropout: Float) throws -> Model

        /// A model without dropout.
        init(name: String, summary: String, sizeSteps: [SizeStep], make: @escaping @Sendable (Int, Int, Device, UInt64) throws -> Model) {
            self.name = name
            self.summary = summary
            takesDropout = false
            minimumInputSize = sizeSteps.minimumInput
            self.make = { inputChannels, classes, device, seed, _ in try make(inputChannels, classes, device, seed) }
        }

        /// A model built with its dropout rate.
        init(name: String, summary: String, sizeSteps: [SizeStep],
             makeWithDropout: @escaping @Sendable (Int, Int, Device, UInt64, Float) throws -> Model) {
            self.name = name
            self.summary = summary
            takesDropout = true
            minimumInputSize = sizeSteps.minimumInput
            make = makeWithDropout
        }
    }

    public static let entries: [Entry] = [
        denseNetBC("densenet-bc-40", depth: 40, k: 12),
        denseNetBC("densenet-bc-100", depth: 100, k: 12),
        denseNetBC("densenet-bc-250-k24", depth: 250, k: 24),
        denseNetBC("densenet-bc-190-k40", depth: 190, k: 40),
        denseNet("densenet-40", summary: "DenseNet L=40, k=12 without bottleneck or compression (CIFAR-style)",
                 .plain(depth: 40, growthRate: 12)),
        denseNetImageNet("densenet-121", [6, 12, 24, 16]),
        denseNetImageNet("densenet-169", [6, 12, 32, 32]),
        denseNetImageNet("densenet-201", [6, 12, 48, 32]),
        denseNetImageNet("densenet-264", [6, 12, 64, 48]),
        drn("drn-c-26", .c26()), drn("drn-c-42", .c42()), drn("drn-d-22", .d22()), drn("drn-d-38", .d38()),
        resNet("drn-a-18", summary: "DRN-A-18: ResNet-18 whose levels 3-4 keep resolution with dilation 2 and 4",
               .drnA([2, 2, 2, 2])),
        resNet("drn-a-34", summary: "DRN-A-34: ResNet-34 whose levels 3-4 keep resolution with dilation 2 and 4",
               .drnA([3, 4, 6, 3])),
        resNet("resnet-18", summary: "ResNet-18 (torchvision)", .resnet([2, 2, 2, 2])),
        resNet("resnet-34", summary: "ResNet-34 (torchvision)", .resnet([3, 4, 6, 3])),
        resNet("resnet-cifar", summary: "small CIFAR ResNet: 3x3 stem, three levels of two basic blocks, 16/32/64 channels",
               .cifar(blocks: 2)),
    ]

    public static var names: [String] { entries.map(\.name) }

    public static func entry(named name: String) -> Entry? {
        if let entry = entries.first(where: { $0.name == name.lowercased() }) { return entry }
        return customDenseNet(name)
    }

    /// `densenet-bc-L-kK` (any depth 6n+4 and growth) and `densenet-L-kK` (depth 3n+4).
    static func customDenseNet(_ name: String) -> Entry? {
        let parts = name.lowercased().split(separator: "-")
        let bc = parts.count >= 3 && parts[1] == "bc"
        let rest = parts.dropFirst(bc ? 2 : 1)
        guard parts.first == "densenet", let depth = rest.first.flatMap({ Int($0) }) else { return nil }
        guard rest.count == 1 || rest.count == 2 else { return nil }
        var growth: Int? = 12
        if rest.count == 2, rest.last!.hasPrefix("k") { growth = Int(rest.last!.dropFirst()) } else if rest.count == 2 { growth = nil }
        guard let k = growth, k > 0 else { return nil }
        if bc {
            guard depth >= 10, (depth - 4) % 6 == 0 else { return nil }
            return denseNetBC(name.lowercased(), depth: depth, k: k)
        }
        guard depth >= 7, (depth - 4) % 3 == 0 else { return nil }
        return denseNet(name.lowercased(), summary: "DenseNet L=\(depth), k=\(k)", .plain(depth: depth, growthRate: k))
    }

    static func denseNetBC(_ name: String, depth: Int, k: Int) -> Entry {
        denseNet(name, summary: "DenseNet-BC L=\(depth), k=\(k) for small images (3x3 stem, three blocks)", .bc(depth: depth, growthRate: k))
    }

    static func denseNetImageNet(_ name: String, _ blocks: [Int]) -> Entry {
        denseNet(name, summary: "\(name) (torchvision): 7x7/2 stem, max pool, blocks \(blocks.map(String.init).joined(separator: "-")), k=32",
                 .imagenet(blocks: blocks))
    }

    static func denseNet(_ name: String, summary: String, _ configuration: DenseNet.Configuration) -> Entry {
        Entry(name: name, summary: summary, sizeSteps: configuration.sizeSteps) { inputChannels, classes, device, seed, dropout in
            let model = try DenseNet(configuration, inputChannels: inputChannels, classes: classes, device: device, seed: seed)
            model.dropRate = dropout
            return model
        }
    }

    static func drn(_ name: String, _ configuration: DRN.Configuration) -> Entry {
        Entry(name: name, summary: "\(name.uppercased()) (fyu/drn), output stride 8, fc as a 1x1 convolution",
              sizeSteps: configuration.sizeSteps) {
            try DRN(configuration, inputChannels: $0, classes: $1, device: $2, seed: $3)
        }
    }

    static func resNet(_ name: String, summary: String, _ configuration: ResNet.Configuration) -> Entry {
        Entry(name: name, summary: summary, sizeSteps: configuration.sizeSteps) {
            try ResNet(configuration, inputChannels: $0, classes: $1, device: $2, seed: $3)
        }
    }
}

extension ModelCatalog.Entry {
    /// A new model; `dropout` (0 = none) only for an entry that `takesDropout`.
    public func make(inputChannels: Int, classes: Int, device: Device, seed: UInt64, dropout: Float = 0) throws -> Model {
        precondition(takesDropout || dropout == 0, "\(name) has no dropout")
        return try make(inputChannels, classes, device, seed, dropout)
    }
}
