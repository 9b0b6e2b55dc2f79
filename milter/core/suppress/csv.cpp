// csv.cpp - see csv.hpp (being written).
