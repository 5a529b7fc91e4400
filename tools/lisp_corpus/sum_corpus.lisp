;;;; Generates tests/data/sum_corpus.json and tests/data/datum_corpus.json:
;;;; what SBCL reads, prints with ~s and sums, for the Lisp data tests.
;;;;
;;;; Usage (from the repository root; re-runnable, the random cases use a
;;;; fixed seed):
;;;;
;;;;   sbcl --script tools/lisp_corpus/sum_corpus.lisp
;;;;
;;;; Output is written relative to the current directory.

(setf *random-state* (sb-ext:seed-random-state 20240611))

;;; JSON output

(defun json-string (text)
  (with-output-to-string (out)
    (write-char #\" out)
    (loop for c across text
          for code = (char-code c)
          do (cond ((char= c #\") (write-string "\\\"" out))
                   ((char= c #\\) (write-string "\\\\" out))
                   ((or (< code 32) (> code 126))
                    (format out "\\u~4,'0x" code))
                   (t (write-char c out))))
    (write-char #\" out)))

(defun write-object (out pairs)
  "Writes PAIRS as a JSON object laid out the way deno fmt lays it out."
  (format out "{")
  (loop for (key value) on pairs by #'cddr
        for first = t then nil
        do (unless first (write-string "," out))
           (format out "~%      ~a: ~a" (json-string key) (json-string value)))
  (format out "~%    }"))

(defun write-array (out objects)
  (write-string "[" out)
  (loop for object in objects
        for first = t then nil
        do (unless first (write-char #\, out))
           (format out "~%    ")
           (write-object out object))
  (format out "~%  ]"))

;;; Reading and summing with SBCL

(defun printed (x) (format nil "~s" x))

(defun read-text (text)
  "The datum TEXT holds, or :ERROR if SBCL cannot read it."
  (handler-case
      (let ((*read-eval* nil))
        (multiple-value-bind (datum end) (read-from-string text)
          (if (eq (read-from-string text nil :eof :start end) :eof) datum :error)))
    (error () :error)))

(defvar *sums* '())
(defvar *read-errors* '())

(defun add-case (a b)
  (let ((x (read-text a))
        (y (read-text b)))
    (dolist (pair (list (cons a x) (cons b y)))
      (when (eq (cdr pair) :error)
        (pushnew (car pair) *read-errors* :test #'string=)))
    (unless (or (eq x :error) (eq y :error))
      (push (append (list "a" a "b" b "printedA" (printed x) "printedB" (printed y))
                    (handler-case (list "sum" (printed (+ x y)))
                      (arithmetic-error (c)
                        (list "error" (symbol-name (type-of c))))))
            *sums*))))

(defun cases (pairs)
  (loop for (a b) in pairs do (add-case a b)))

;;; Random values (fixed seed)

(defun random-between (low high) (+ low (random (1+ (- high low)))))

(defun random-integer ()
  (let ((n (case (random 6)
             (0 (random-between -1000 1000))
             (1 (random-between (- (expt 2 31)) (expt 2 31)))
             (2 (+ most-positive-fixnum (random-between -3 3)))
             (3 (random (expt 2 64)))
             (4 (random (expt 2 (random-between 65 300))))
             (t (random (expt 10 (random-between 30 45)))))))
    (if (zerop (random 2)) n (- n))))

(defun random-ratio ()
  (/ (random-integer) (1+ (random (expt 10 (random-between 1 25))))))

(defun random-single ()
  (loop (let* ((bits (random (expt 2 32)))
               (exponent (ldb (byte 8 23) bits)))
          (when (< 0 exponent 255)
            (return (sb-kernel:make-single-float
                     (if (>= bits (expt 2 31)) (- bits (expt 2 32)) bits)))))))

(defun random-double ()
  (loop (let* ((high (random (expt 2 32)))
               (exponent (ldb (byte 11 20) high)))
          (when (< 0 exponent 2047)
            (return (sb-kernel:make-double-float
                     (if (>= high (expt 2 31)) (- high (expt 2 32)) high)
                     (random (expt 2 32))))))))

(defun random-moderate-single ()
  (* (if (zerop (random 2)) 1 -1)
     (random 1.0)
     (expt 10.0 (random-between -6 9))))

(defun random-moderate-double ()
  (* (if (zerop (random 2)) 1 -1)
     (random 1d0)
     (expt 10d0 (random-between -6 9))))

(defun random-decimal ()
  "A decimal float token as a person might type it."
  (let* ((digits (loop repeat (random-between 1 20)
                       collect (code-char (+ 48 (random 10)))))
         (text (coerce digits 'string))
         (dot (random-between 0 (length text)))
         (mantissa (concatenate 'string (subseq text 0 dot) "."
                                (subseq text dot)
                                (if (= dot (length text)) "0" "")))
         (marker (nth (random 4) '("" "e" "d" "f")))
         (exponent (if (string= marker "")
                       ""
                       (format nil "~d" (if (string= marker "d")
                                            (random-between -330 330)
                                            (random-between -50 50))))))
    (concatenate 'string (if (zerop (random 3)) "-" "") mantissa marker exponent)))

(defun random-complex ()
  (case (random 3)
    (0 (complex (random-integer) (random-ratio)))
    (1 (complex (random-moderate-single) (random-moderate-single)))
    (t (complex (random-moderate-double) (random-moderate-double)))))

(defun random-number ()
  (case (random 7)
    (0 (random-integer))
    (1 (random-ratio))
    (2 (random-single))
    (3 (random-double))
    (4 (random-moderate-single))
    (5 (random-moderate-double))
    (t (random-complex))))

;;; Reader-syntax variants of a printed number

(defun variants (x)
  (let ((p (printed x)))
    (typecase x
      (integer
       (list (format nil "#x~x" x) (format nil "#b~b" x) (format nil "#o~o" x)
             (format nil "#36r~36r" x) (format nil "~d." x)
             (if (minusp x) p (format nil "+~d" x))))
      (ratio
       (list (format nil "#x~x" x)
             (format nil "~d/~d" (* 3 (numerator x)) (* 3 (denominator x)))))
      (single-float
       (if (find #\e p)
           (list (substitute #\E #\e p) (substitute #\f #\e p) (substitute #\S #\e p))
           (list (concatenate 'string p "f0") (concatenate 'string p "e0")
                 (concatenate 'string p "s0"))))
      (double-float
       (list (substitute #\D #\d p) (substitute #\l #\d p) (substitute #\L #\d p)))
      (t nil))))

;;; The cases

(cases
 '(;; LISP-NUMBERS.md examples
   ("1" "3") ("1.234" "3.23423") ("123456.7" "0.1") ("0.1" "0.2") ("0.1d0" "0.2d0")
   ("3" "#C(0.0 1.0)") ("1/3" "0.5") ("16777217" "0.0") ("0.1" "0.1d0")
   ("-0.0" "-0.0") ("-0.0" "0.0") ("-0.0" "0") ("0" "-0.0") ("-0.0d0" "-0.0")
   ("-0.0" "0.0d0") ("-0.0d0" "0") ("0.0" "0.0") ("-0.0d0" "-0.0d0")
   ("#C(1.0 -0.0)" "1") ("#C(1 2)" "#C(1 -2)") ("#C(1.0 2.0)" "#C(1.0 -2.0)")
   ("3.0e38" "3.0e38") ("1.0d308" "1.0d308") ("1000000000000000000000000000000000000000" "1.0")
   ("1.0e38" "1.0e38") ("-3.0e38" "-3.0e38") ("1.0d308" "-1.0d308")
   ("3.4028235e38" "2.0e31") ("3.4028235e38" "1.0e31")
   ("340282356779733661637539395458142568448" "0.0")
   ("340282356779733661637539395458142568447" "0.0")
   ("179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368" "0.0d0")
   ("1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" "1.0d0")
   ("10000000000000000000000000000000000000000/3" "1.0")
   ;; integers, bignums, ratios
   ("0" "0") ("-5" "+5") ("4611686018427387903" "1") ("-4611686018427387904" "-1")
   ("18446744073709551615" "1") ("123456789012345678901234567890" "-123456789012345678901234567890")
   ("1/2" "1/2") ("1/3" "1/6") ("2/4" "-1/2") ("-4/2" "1") ("1/3" "2/3") ("#xFF/2" "1/2")
   ("#x1F" "#b101") ("#o17" "#36rZZ") ("#x-1F" "1") ("#x10." "0") ("1." "2.") ("-12." "+0")
   ("#36rABCDEFGHIJKLMNOPQRSTUVWXYZ" "1") ("#3r-1212/11" "1")
   ;; float syntax
   (".5" "1") ("-.5e2" "0") ("1e10" "0") ("1.5e+3" "0") ("0.1e1" "0") ("1.e5" "0")
   ("1.5f0" "1.5s0") ("1.5d0" "1.5l0") ("1.5D0" "1.5L0") ("1.5E0" "1.5F0") ("1.5S0" "1")
   ("1e-50" "0") ("1.0d-400" "0") ("-1.0e-50" "0.0") ("-1.0e-50" "-0.0")
   ;; layout boundaries
   ("0.001" "0") ("0.0009999999" "0") ("9.999999e-4" "0") ("9999999.0" "0") ("9999999.0" "1.0")
   ("1.0e7" "0") ("9999999.5" "0") ("1000000.5" "0") ("100.0" "0") ("0.010002136" "0")
   ("0.001d0" "0") ("9.999999999999998d-4" "0") ("9999999.999999998d0" "0") ("1.0d7" "0")
   ("9999999.0d0" "1") ("1.0d-4" "0") ("1.5d-7" "0") ("1.2345679e7" "0") ("1.5e-7" "0")
   ("123456789" "0.0") ("123456789" "0.0d0") ("12345678901234567890" "0.0d0")
   ;; tiny and huge
   ("1.1754944e-38" "0.0") ("1.1754942e-38" "0.0") ("1.4e-45" "0.0") ("7.0e-46" "0.0")
   ("3.4028235e38" "0.0") ("-3.4028235e38" "0") ("2.2250738585072014d-308" "0.0d0")
   ("4.9406564584124654d-324" "0.0d0") ("1.7976931348623157d308" "0")
   ("1.0e-45" "0") ("1.0d-320" "0") ("2.0e-45" "1.0e-45") ("1.0e-40" "1.0e-40")
   ("1.0e-38" "-1.0e-39") ("5.0d-324" "5.0d-324")
   ;; rounding of large ratios, bignums and subnormals, as SBCL does it
   ("123456789.5" "0") ("123456789.5" "0.0") ("16777217.000001" "0.0") ("33554434.99" "0")
   ("98765432.1" "0.0") ("246913579/2" "0.0") ("12345678901234567.5d0" "0")
   ("1267650600228229401496703205377" "0.0")
   ("1267650600228229476014934083585" "0.0")
   ("1606938044258990275541962092341162602522202993782792835301377" "0.0d0")
   ;; contagion
   ("1" "1.0") ("1" "1.0d0") ("1/3" "1.0d0") ("1/3" "0.0") ("1.5" "1.5d0") ("1/10" "0.1")
   ("100000000000000000000" "1.0") ("100000000000000000000" "1.0d0") ("1.0" "1/3")
   ;; complexes
   ("#C(1 2)" "#C(3 4)") ("#C(1/2 1/3)" "#C(1/2 -1/3)") ("#C(1 2)" "1.0d0") ("1/3" "#C(1 1)")
   ("#C(1.0 2.0)" "1/3") ("#C(1.0 2.0)" "1.0d0") ("1.5" "#C(1 2)") ("#c(1/2 0.5)" "0")
   ("#C(1 0)" "1") ("#C(1.0 0)" "0") ("#C(0 1)" "#C(0 -1)") ("#C(1 2.0d0)" "#C(1.0 2.0)")
   ("#C(#x10 #b11)" "1") ("#C(0.0 -0.0)" "#C(-0.0 -0.0)") ("#C(3.0e38 1.0)" "#C(3.0e38 1.0)")
   ("#C(1.0 3.0e38)" "#C(1.0 3.0e38)") ("#C(1 2)" "-1") ("#C(1.5 2.5)" "#C(-1.5 -2.5)")))

;; Powers of two around the smallest normals, printed on their own.
(dolist (x (list (expt 2.0 -126) (expt 2.0 -125) (expt 2.0 -124) (expt 2.0 -127)
                 (expt 2d0 -1022) (expt 2d0 -1021) (expt 2d0 -1023)
                 (expt 2.0 127) (expt 2d0 1023) (expt 2.0 24) (expt 2d0 53)))
  (add-case (printed x) "0"))

;; Bignums whose conversion to a float depends on low bits.
(dolist (n (list (+ (expt 2 100) (expt 2 76) 1) (+ (expt 2 100) (expt 2 76))
                 (+ (expt 2 100) (expt 2 76) (expt 2 77)) (+ (expt 2 200) (expt 2 147) 1)
                 (+ (expt 2 250) (expt 2 197) (expt 2 130)) (- (expt 2 128) (expt 2 103) 1)
                 (- (expt 2 128) (expt 2 103)) (+ (expt 2 62) 1) (- (expt 2 62) 1)
                 (- (expt 2 62)) (- (1+ (expt 2 62))) (+ (expt 2 70) (expt 2 46) 1)))
  (add-case (printed n) "0.0")
  (add-case (printed n) "0.0d0"))

;; Random numbers of every type, and their reader-syntax variants.
(dotimes (i 120)
  (let ((a (random-number))
        (b (random-number)))
    (add-case (printed a) (printed b))))
(dotimes (i 40)
  (let ((x (random-number)))
    (dolist (v (variants x)) (add-case v "0"))))
;; Random floats of similar magnitude, where rounding matters.
(dotimes (i 40)
  (add-case (printed (random-moderate-single)) (printed (random-moderate-single)))
  (add-case (printed (random-moderate-double)) (printed (random-moderate-double)))
  (add-case (printed (random-moderate-single)) (printed (random-moderate-double))))
;; Random decimal tokens as typed by a person: exercises decimal rounding.
(dotimes (i 120)
  (add-case (random-decimal) "0"))
;; Random subnormals.
(dotimes (i 10)
  (add-case (printed (sb-kernel:make-single-float (random-between 1 8388607))) "0")
  (add-case (printed (sb-kernel:make-double-float 0 (random (expt 2 32)))) "0"))

;; Texts SBCL cannot read as numbers.
(dolist (text '("1.0e39" "-1.0e39" "1/0" "#x1/0" "1.0d309" "3.4028236e38" "1.7976931348623159d308"
                "#C(1 2 3)" "#C(1)" "#x1.5" "#b102" "#37r1" "#1r1" "#C(1/0 1)"))
  (when (eq (read-text text) :error) (pushnew text *read-errors* :test #'string=)))

;;; Non-number data

(defvar *data* '())

(defun add-datum (text)
  (let ((x (read-text text)))
    (push (if (eq x :error)
              (list "text" text "error" "READER-ERROR")
              (list "text" text "printed" (printed x)))
          *data*)))

(dolist (text
         (list "foo" "Foo" "|a b|" "|Foo|" "\\1" "a\\bc" ":key" ":|a|" "::foo" "nil" "()" "t"
               "\"a\\\"b\"" "\"\\\\\"" "\"\"" (format nil "\"~cx\"" (code-char 955)) "#\\a" "#\\A" "#\\Space" "#\\space"
               "#\\Newline" "#\\Tab" "#\\(" "#\\)" "#\\Nul" "#\\Rubout" "#\\Page" "#\\Return"
               "#\\Backspace" "#\\Linefeed" "#\\\\" "#\\|" "#\\;" "#\\\"" "(1 2 3)" "(1 . 2)"
               "(a . (b c))" "(1 (2 (3)))" "#(1 2 #(3))" "#()" "'x" "'(1 2)" "(quote x)"
               "(a 'b)" "''a" "(1 . nil)" "(nil)" "((a . b) . c)" "(1 . (2 . 3))" "1+" "+1" "1-"
               "-" "+" "+." "1e" "1_000" "0x10" "Infinity" "NaN" "a.b" "1.5." "1..5" "a#b"
               "|1.5|" "||" "abc|DEF|ghi" "|a\\|b|" "|a\\\\b|" "*x*" "<=" "[a]" "{}" "?" "a/b"
               "1/2/3" "1/a" "+.5x" ".5." "^" "_" "1^2" "a,b" "(a b . c)" "#\\x41" "#\\u+41"
               ")" "(1 . 2 3)" "( . 2)" "(1 .)" "." "..." "(1" "\"abc" "#(1 . 2)" "#<x>"
               "#1r1" "foo:bar" ":" "#\\nosuchname" ",a" (string (code-char 923)) (string (code-char 955)) (string (code-char 233)) "(:error \"FOO is not a number\")"
               "(1 2 3) ; comment" "#| block |# 5" "; comment
5"))
  (add-datum text))

;;; Output

(with-open-file (out "tests/data/sum_corpus.json" :direction :output
                                                  :if-exists :supersede
                                                  :external-format :utf-8)
  (format out "{~%  \"lisp\": ~a,~%  \"cases\": "
          (json-string (format nil "~a ~a" (lisp-implementation-type)
                               (lisp-implementation-version))))
  (write-array out (reverse *sums*))
  (format out ",~%  \"readErrors\": ")
  (write-array out (mapcar (lambda (text) (list "text" text)) (reverse *read-errors*)))
  (format out "~%}~%"))

(with-open-file (out "tests/data/datum_corpus.json" :direction :output
                                                    :if-exists :supersede
                                                    :external-format :utf-8)
  (format out "{~%  \"lisp\": ~a,~%  \"data\": "
          (json-string (format nil "~a ~a" (lisp-implementation-type)
                               (lisp-implementation-version))))
  (write-array out (reverse *data*))
  (format out "~%}~%"))

(format t "~d sums, ~d read errors, ~d data~%"
        (length *sums*) (length *read-errors*) (length *data*))
