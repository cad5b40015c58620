export { default, options } from './jose-body.ts';
