import Layers
import Models
import Tensors
import XCTest

final class ResNetTests: XCTestCase {
    /// Models are built with a convolution that is never run (shape and count tests only).
    func model(_ name: String, channels: Int, classes: Int, width: Double = 1) throws -> ResNet {
        try ResNet(name: name, inputChannels: channels, classCount: classes, width: width,
                   makeConvolution: { NaiveConvolution(geometry: $0) })
    }

    /// The published counts: resnet20 0.27 M (He et al. 2016), PreAct ResNet-18 11.2 M with 100
    /// classes (the MultiMix paper's), WRN-16-8 11.0 M (Zagoruyko & Komodakis 2016).
    func testParameterCounts() throws {
        XCTAssertEqual(try model("resnet20", channels: 3, classes: 10).parameterCount, 269_722)
        XCTAssertEqual(try model("resnet20", channels: 1, classes: 10).parameterCount, 269_434)
        XCTAssertEqual(try model("preactresnet18", channels: 3, classes: 100).parameterCount, 11_218_340)
        // AlignMixup's: a stem BN (+2·64) and no final BN (−2·512). Kuang Liu's PreActResNet18 (no stem BN,
        // no final BN) has 11,171,146 with 10 classes, + 90·513 for 100 = 11,217,316; + 128 = 11,217,444.
        XCTAssertEqual(try model("preactresnet18-alignmixup", channels: 3, classes: 100).parameterCount, 11_217_444)
        let wrn = try model("wrn16-8", channels: 3, classes: 100).parameterCount
        XCTAssertEqual(Double(wrn) / 1e6, 11.0, accuracy: 0.05, "wrn16-8: \(wrn)")
        // torchvision's counts: resnet18 11,689,512 and resnet50 25,557,032 (1000 classes).
        XCTAssertEqual(try model("resnet18", channels: 3, classes: 1000).parameterCount, 11_689_512)
        XCTAssertEqual(try model("resnet50", channels: 3, classes: 1000).parameterCount, 25_557_032)
    }

    /// torchvision-style tensor names, trainables in forward order.
    func testTensorNames() throws {
        let names = try model("resnet20", channels: 3, classes: 10).arena.entries.map(\.name)
        XCTAssertEqual(Array(names.prefix(4)), ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean"])
        XCTAssertTrue(names.contains("layer1.0.conv1.weight"))
        XCTAssertTrue(names.contains("layer3.2.bn2.running_var"))
        XCTAssertTrue(names.contains("fc.bias"))
        let preact = try model("preactresnet18", channels: 3, classes: 100).arena
        XCTAssertNotNil(preact.entry(named: "layer2.0.downsample.0.weight"))
        XCTAssertNotNil(preact.entry(named: "bn.running_mean"))
        XCTAssertNil(preact.entry(named: "bn1.weight"))
        let align = try model("preactresnet18-alignmixup", channels: 3, classes: 10).arena
        XCTAssertEqual(align.entry(named: "bn1.weight")?.shape, [64])
        XCTAssertNil(align.entry(named: "bn.weight"))
        XCTAssertNotNil(align.entry(named: "layer2.0.downsample.0.weight"))
        XCTAssertNil(align.entry(named: "layer2.0.downsample.1.weight"))
        let r50 = try model("resnet50", channels: 3, classes: 10).arena
        XCTAssertEqual(r50.entry(named: "layer1.0.downsample.1.running_var")?.shape, [256])
        XCTAssertEqual(r50.entry(named: "layer4.2.conv3.weight")?.shape, [2048, 512, 1, 1])
    }

    /// AlignMixup's embeddings are the last block's sum, not a ReLU's output: some are negative.
    func testAlignMixupEmbeddingsAreSigned() throws {
        let net = try ResNet(name: "preactresnet18-alignmixup", inputChannels: 3, classCount: 10, width: 1.0 / 16)
        let z = net.pool(net.encode(FiniteDifferences.randomTensor([2, 8, 8, 3], seed: 5)))
        XCTAssertTrue((0..<z.count).contains { z.data[$0] < 0 })
        let preact = try ResNet(name: "preactresnet18", inputChannels: 3, classCount: 10, width: 1.0 / 16)
        let nonNegative = preact.pool(preact.encode(FiniteDifferences.randomTensor([2, 8, 8, 3], seed: 5)))
        XCTAssertTrue((0..<nonNegative.count).allSatisfy { nonNegative.data[$0] >= 0 })
    }

    /// ResNet-20's convolutions for `multimix bench conv`: the stem, then per stage six 3×3
    /// convolutions, the first of stages 2 and 3 at stride 2 (no shortcut convolutions), at the batch
    /// asked for; the model keeps its mode.
    func testConvolutionGeometriesFollowTheForwardPass() throws {
        let resnet = try model("resnet20", channels: 3, classes: 10)
        resnet.isTraining = true
        let geometries = resnet.convolutionGeometries(batch: 128, height: 32, width: 32)
        XCTAssertTrue(resnet.isTraining)
        func conv(_ c: Int, _ size: Int, _ k: Int, stride: Int = 1) -> ConvolutionGeometry {
            ConvolutionGeometry(batch: 128, inputChannels: c, inputHeight: size, inputWidth: size, outputChannels: k,
                                kernelHeight: 3, kernelWidth: 3, stride: stride, padding: 1)
        }
        let expected = [conv(3, 32, 16)] + Array(repeating: conv(16, 32, 16), count: 6)
            + [conv(16, 32, 32, stride: 2)] + Array(repeating: conv(32, 16, 32), count: 5)
            + [conv(32, 16, 64, stride: 2)] + Array(repeating: conv(64, 8, 64), count: 5)
        XCTAssertEqual(geometries, expected)
    }

    func testUnknownNameIsAnError() {
        XCTAssertThrowsError(try model("resnet19", channels: 3, classes: 10)) { error in
            XCTAssertTrue("\(error)".contains("resnet20"))
        }
    }
}

final class ResNetShapeTests: XCTestCase {
    /// encode → pool → classify shapes for both input shapes (1×28×28 and 3×32×32), a per-position
    /// classifier on the feature map (Dense MultiMix), and eval mode.
    func testOutputShapes() throws {
        for (channels, size, featureSize) in [(1, 28, 7), (3, 32, 8)] {
            let model = try ResNet(name: "resnet20", inputChannels: channels, classCount: 10, width: 0.25,
                                   makeConvolution: { NaiveConvolution(geometry: $0) })
            let x = FiniteDifferences.randomTensor([2, size, size, channels], seed: 3)
            let features = model.encode(x)
            XCTAssertEqual(features.shape, [2, featureSize, featureSize, 16])
            let z = model.pool(features)
            XCTAssertEqual(z.shape, [2, 16])
            XCTAssertEqual(model.classify(z).shape, [2, 10])
            XCTAssertEqual(model.classify(features).shape, [2 * featureSize * featureSize, 10])
            model.isTraining = false
            XCTAssertEqual(model.classify(model.pool(model.encode(x))).shape, [2, 10])
        }
    }

    /// The ImageNet stem (stride 2 + max pool) on the smallest input: 28 → 14 → 7 → 7, 4, 2, 1.
    func testImageNetStemOnSmallInput() throws {
        let model = try ResNet(name: "resnet18", inputChannels: 1, classCount: 10, width: 1.0 / 16,
                               makeConvolution: { NaiveConvolution(geometry: $0) })
        let features = model.encode(FiniteDifferences.randomTensor([2, 28, 28, 1], seed: 4))
        XCTAssertEqual(features.shape, [2, 1, 1, 32])
    }
}
