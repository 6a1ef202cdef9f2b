/// Figures over the steps since the last log line (a skipped step has no loss: it is not averaged in).
public struct StepWindow {
    public init() {}

    public private(set) var steps = 0, totalSteps = 0, lossSteps = 0
    var loss = 0.0, seconds = 0.0, dataWait = 0.0, exposed = 0.0, images = 0

    public mutating func add(loss: Double?, seconds: Double, dataWait: Double, exposed: Double, images: Int) {
        steps += 1
        totalSteps += 1
        if let loss {
            self.loss += loss
            lossSteps += 1
        }
        self.seconds += seconds + dataWait
        self.dataWait += dataWait
        self.exposed += exposed
        self.images += images
    }

    public mutating func reset() {
        steps = 0; lossSteps = 0
        loss = 0; seconds = 0; dataWait = 0; exposed = 0; images = 0
    }

    public var meanLoss: Double { lossSteps > 0 ? loss / Double(lossSteps) : .nan }
    public var imagesPerSecond: Double { seconds > 0 ? Double(images) / seconds : 0 }
    public var dataWaitFraction: Double { seconds > 0 ? dataWait / seconds : 0 }
    public var meanExposed: Double { steps > 0 ? exposed / Double(steps) : 0 }
    /// A step's mean wall time, its wait for data included.
    public var meanStepSeconds: Double { steps > 0 ? seconds / Double(steps) : 0 }
}
