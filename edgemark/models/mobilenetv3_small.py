"""MobileNetV3-small (Howard et al., 2019): inverted residuals with squeeze-excitation
and hard-swish, with a width multiplier."""

from torch import nn

from .head import LandmarkHead, feature_size
from .mobilenetv2 import make_divisible

# kernel, expansion channels, output channels, squeeze-excite, activation, stride (the paper's table 2)
MOBILENETV3_SMALL_BLOCKS = [
    (3, 16, 16, True, "relu", 2), (3, 72, 24, False, "relu", 2), (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hswish", 2), (5, 240, 40, True, "hswish", 1), (5, 240, 40, True, "hswish", 1),
    (5, 120, 48, True, "hswish", 1), (5, 144, 48, True, "hswish", 1), (5, 288, 96, True, "hswish", 2),
    (5, 576, 96, True, "hswish", 1), (5, 576, 96, True, "hswish", 1),
]


def activation(name):
    return nn.Hardswish(inplace=True) if name == "hswish" else nn.ReLU(inplace=True)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        squeezed = make_divisible(channels / 4)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, squeezed, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(squeezed, channels, 1), nn.Hardsigmoid(inplace=True))

    def forward(self, x):
        return x * self.gate(x)


class Bneck(nn.Module):
    def __init__(self, cin, kernel, hidden, cout, se, act, stride):
        super().__init__()
        layers = []
        if hidden != cin:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), activation(act)]
        layers += [nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False), nn.BatchNorm2d(hidden), activation(act)]
        if se:
            layers.append(SqueezeExcite(hidden))
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV3Small(nn.Module):
    def __init__(self, num_points: int, input_size: int = 112, width: float = 1.0, head_channels: int = 64,
                 head_pooling: str = "flatten", dropout: float = 0.0):
        super().__init__()
        cin = make_divisible(16 * width)
        layers = [nn.Sequential(nn.Conv2d(3, cin, 3, 2, 1, bias=False), nn.BatchNorm2d(cin), nn.Hardswish(inplace=True))]
        for k, exp, c, se, act, s in MOBILENETV3_SMALL_BLOCKS:
            cout, hidden = make_divisible(c * width), make_divisible(exp * width)
            layers.append(Bneck(cin, k, hidden, cout, se, act, s))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = LandmarkHead(cin, feature_size(input_size, 32), num_points, head_channels, head_pooling, dropout)

    def forward(self, x):
        return self.head(self.features(x))
