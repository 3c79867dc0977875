# gnuplot -e "datafile='X.dat'; outfile='X.png'; subtitle='...'" bench/chart.gp
# Two panels from bench/report.py's chart data: req/s (32 connections) and proxy CPU-s per 1k
# requests. Blue bars were measured in this run; grey bars are issue 7's figures for the
# alternatives, reported, not measured here.
if (!exists("subtitle")) subtitle = ""
set terminal pngcairo size 1200,600 font "DejaVu Sans,10"
set bmargin 10
set output outfile
set datafile separator whitespace
set style fill solid 0.85 border -1
set boxwidth 0.7
set grid ytics lc rgb "#dddddd"
set xtics rotate by -30 left nomirror
set key top right
set multiplot layout 1,2 title "openrouter-proxy benchmark: CONNECT + TLS, small chat completion, keep-alive both legs\n" . subtitle
set title "req/s, 32 connections (log scale)"
set logscale y
set yrange [100:*]
set format y "%.0s%c"
set xrange [-0.6:*]
plot datafile using 0:($4 == 0 ? $2 : 1/0):xtic(1) with boxes title "measured here" lc rgb "#2b6cb0", \
     '' using 0:($4 == 1 ? $2 : 1/0) with boxes title "reported, not measured here" lc rgb "#a0a0a0", \
     '' using 0:($2 * 1.15):(sprintf("%.0f", $2)) with labels notitle
set title "proxy CPU-seconds per 1,000 requests (log scale, lower is better)"
set yrange [0.005:*]
set format y "%g"
plot datafile using 0:($4 == 0 ? $3 : 1/0):xtic(1) with boxes title "measured here" lc rgb "#2b6cb0", \
     '' using 0:($4 == 1 ? $3 : 1/0) with boxes title "reported, not measured here" lc rgb "#a0a0a0", \
     '' using 0:($3 * 1.15):(sprintf("%.3f", $3)) with labels notitle, \
     0.04 with lines dt 2 lc rgb "#c53030" title "target 0.04"
unset multiplot
