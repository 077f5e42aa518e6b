#include "keyd/portalctl/qr.h"

#include <memory>
#include <stdexcept>

#include <qrencode.h>

namespace portal::ctl {
namespace {

struct QrDeleter {
    void operator()(QRcode* q) const { QRcode_free(q); }
};

constexpr int kQuiet = 4;  // ISO/IEC 18004 quiet zone, in modules

}  // namespace

std::string render_qr(std::string_view text, QrStyle style) {
    const std::string input(text);  // libqrencode wants a NUL-terminated string
    std::unique_ptr<QRcode, QrDeleter> qr(
        QRcode_encodeString(input.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1));
    if (!qr) throw std::runtime_error("cannot encode the text as a QR code");

    const int n = qr->width;
    auto dark = [&](int x, int y) {
        x -= kQuiet, y -= kQuiet;
        if (x < 0 || y < 0 || x >= n || y >= n) return false;
        return (qr->data[static_cast<std::size_t>(y) * static_cast<std::size_t>(n) +
                         static_cast<std::size_t>(x)] & 1) != 0;
    };

    const int size = n + 2 * kQuiet;
    std::string out;
    for (int y = 0; y < size; y += 2) {
        if (style == QrStyle::ansi) out += "\x1b[30;107m";  // black on bright white
        for (int x = 0; x < size; ++x) {
            const bool top = dark(x, y), bottom = y + 1 < size && dark(x, y + 1);
            // In both styles the glyph's foreground draws the dark modules.
            if (top && bottom) out += "\u2588";
            else if (top) out += "\u2580";
            else if (bottom) out += "\u2584";
            else out += ' ';
        }
        if (style == QrStyle::ansi) out += "\x1b[0m";
        out += '\n';
    }
    return out;
}

}  // namespace portal::ctl
