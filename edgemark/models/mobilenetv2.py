"""MobileNetV2 (Sandler et al., 2018) with a width multiplier, the default backbone.
Inverted residual blocks: 1x1 expand, 3x3 depthwise, 1x1 linear projection."""

from torch import nn

from .head import LandmarkHead, feature_size

# expansion t, output channels c, repeats n, first stride s (the paper's table 2)
MOBILENETV2_BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def make_divisible(v: float, divisor: int = 8) -> int:
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def conv_bn(cin, cout, kernel, stride, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        layers = [conv_bn(cin, hidden, 1, 1)] if expand != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden), conv_bn(hidden, cout, 1, 1, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_points: int, input_size: int = 112, width: float = 1.0, head_channels: int = 64,
                 head_pooling: str = "flatten", dropout: float = 0.0):
        super().__init__()
        cin = make_divisible(32 * width)
        layers = [conv_bn(3, cin, 3, 2)]
        for t, c, n, s in MOBILENETV2_BLOCKS:
            cout = make_divisible(c * width)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        self.features = nn.Sequential(*layers)
        self.head = LandmarkHead(cin, feature_size(input_size, 32), num_points, head_channels, head_pooling, dropout)

    def forward(self, x):
        return self.head(self.features(x))
