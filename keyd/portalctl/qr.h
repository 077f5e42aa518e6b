// QR codes for the terminal (libqrencode), two modules per character cell.
#pragma once
#include <string>
#include <string_view>

namespace portal::ctl {

enum class QrStyle {
    ansi,   // explicit black-on-white colours: scans on dark and light terminals
    plain,  // no escape codes, dark modules drawn as blocks (files, light backgrounds)
};

// Renders `text` (byte mode, error correction M) with a 4-module quiet zone using
// Unicode half blocks. Throws std::runtime_error if the text does not fit a QR code.
std::string render_qr(std::string_view text, QrStyle style);

}  // namespace portal::ctl
